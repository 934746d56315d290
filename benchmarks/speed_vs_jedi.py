"""Issue 14's check: grucomplete against jedi-language-server, jumps and keystrokes, one run.

    python benchmarks/speed_vs_jedi.py --corpus .work/heldout [--seeds 1,2] [--files 16]
        [--queries 300] [--out .work/speed] [--server "grucomplete serve"]
        [--reference jedi-language-server]

Runs the shared gauge (`../shared/gauge/lsp_eval.py`, beside the checkout) for each seed,
server and mode, one after the other on this machine: "jump" (the text up to each position
arrives in one change, as after a paste or a jump) and "keystroke" (`--type-last 8`: the last
8 characters typed one at a time, a request after each). Prints latency (p50 / p99 of the
scored requests for jumps, of the typing requests for keystrokes), accuracy (MRR@10, member
and identifier top-1, line edit similarity) and jedi-language-server's latency as a multiple
of ours in the same run, beside issue 14's targets. Each run's JSON is kept in `--out`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

GAUGE = Path(__file__).resolve().parents[2] / "shared" / "gauge" / "lsp_eval.py"
MODES = {"jump": [], "keystroke": ["--type-last", "8"]}
TARGETS = {"jump": (40, 120), "keystroke": (15, 60)}  # p50, p99 ms on the slow class
RATIOS = (3, 5)  # jedi-language-server / ours, at p50 and p99


def gauge(server: str, seed: int, mode: str, args: argparse.Namespace, out: Path) -> dict:
    if not out.exists():
        command = [sys.executable, str(GAUGE), "--server", server, "--corpus", str(args.corpus)]
        command += ["--files", str(args.files), "--queries", str(args.queries)]
        command += ["--seed", str(seed), "--warmup", "2", "--json", str(out), *MODES[mode]]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"the gauge failed ({' '.join(command)}):\n{done.stderr[-2000:]}")
    return json.loads(out.read_text())


def latency(run: dict, mode: str) -> tuple[float, float]:
    if mode == "keystroke":
        typed = run["meta"]["keystroke_ms"]
        return typed["p50"], typed["p99"]
    scored = run["summary"]["latency_ms"]
    return scored["p50"], scored["p99"]


def accuracy(run: dict) -> str:
    s = run["summary"]
    return (f"{s['mrr10_member_ident']:.3f} | {s['member']['top1']:.2f} | "
            f"{s['ident']['top1']:.2f} | {s['line']['es1']:.3f}")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--seeds", default="1,2")
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--server", default="grucomplete serve")
    p.add_argument("--reference", default="jedi-language-server")
    p.add_argument("--out", type=Path, default=Path(".work/speed"))
    p.add_argument("--fresh", action="store_true", help="rerun runs whose JSON is in --out")
    args = p.parse_args()
    if not GAUGE.exists():
        sys.exit(f"the shared gauge is not at {GAUGE}")
    servers = {"grucomplete": args.server}
    if args.reference and shutil.which(shlex.split(args.reference)[0]):
        servers["reference"] = args.reference
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    print("| seed | mode | server | p50 ms | p99 ms | target p50 / p99 | reference / ours p50 | "
          "p99 | MRR@10 | member top-1 | ident top-1 | line ES@1 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        for mode in MODES:
            runs = {
                name: gauge(server, seed, mode, args, args.out / f"{name}-{mode}-{seed}.json")
                for name, server in servers.items()
            }
            ours = latency(runs["grucomplete"], mode)
            for name, run in runs.items():
                p50, p99 = latency(run, mode)
                target, ratio = "{} / {}".format(*TARGETS[mode]), " | "
                if name == "reference":
                    target = ""
                    ratio = (f"{p50 / ours[0]:.1f}x (≥ {RATIOS[0]}x) | "
                             f"{p99 / ours[1]:.1f}x (≥ {RATIOS[1]}x)")  # fmt: skip
                print(f"| {seed} | {mode} | {name} | {p50:.1f} | {p99:.1f} | {target} | {ratio} | "
                      f"{accuracy(run)} |")  # fmt: skip


if __name__ == "__main__":
    main()
