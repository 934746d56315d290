"""Team codebases: does learning a project help on its own held-out files? (issue 17)

Real projects in neither the training corpus nor the held-out list, pinned like the corpus
(name, version, sha256, licence checked) and fetched from their PyPI sdists. Each project's
files are split by a hash of their path: about 80% stay as the project the server may learn
from, 20% are held out. The shared gauge types the held-out files with `--root` set to the whole
project, so the server sees every other file on disk but never the one being typed.

Layout under .work/team/<name>-<version>/:
    project/        the whole project as the sdist ships it (the workspace, `--root`)
    project/.heldout/   symbolic links to the held-out files (the gauge's `--corpus`): the
                    editor opens a file through the link, a server must resolve it to the real
                    file to know it is open (hidden folders are not part of the workspace)
    project/.gitignore  the held-out files: the workspace memory leaves them out

    python benchmarks/team_codebases.py [--projects cattrs,toolz] [--queries 300] [--files 8]
        [--settle-s 60] [--memory 0.25] [--configs default,memory,retrained,both]
        [--baseline default] [--retrain-flags "--max-epochs 1"]

prints the gauge's summary per project for each configuration and their mean, and the
difference of each against the baseline (the default unless `--baseline` says another).
"caches" is the default without lines recalled from the project (`recallLines` off: the model
and the document's caches only). "retrained" is what a user gets from one command,
`grucomplete train project --from default` (plus `--retrain-flags`, on one thread), kept in
<project>/retrained/ and reused while its flags are the same; before the gauge, the held-out
files' next-token loss and top-1 of the default and the retrained model are printed
(`retrain_heldout.py`'s measure: int8, the neural cache mixed in). "both" is the retrained
model with the memory. Each gain in MRR comes with a 95% interval (paired bootstrap).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".work" / "team"
# The shared gauge sits beside the checkout (../shared/gauge).
GAUGE = Path(__file__).resolve().parents[2] / "shared" / "gauge" / "lsp_eval.py"
HELDOUT_SHARE = 0.2
METRICS = ("mrr", "ident_top1", "member_top1", "line_es1", "p50_ms", "p99_ms", "rss_mb")


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    license: str
    sha256: str


# In neither training/corpus/default_corpus.toml nor training/corpus/heldout_packages.toml
# (checked by `check_disjoint`), pure Python, permissive.
PROJECTS = [
    Project(
        "cattrs",
        "26.2.1",
        "MIT",
        "679132bfdc225c5ee40c024fc42519954767c387f950dc6751946c586bccdc6d",
    ),
    Project(
        "toolz",
        "1.2.0",
        "BSD-3-Clause",
        "9667a038e9d6ecba37995e26cb2f59ec6420b6ad8dd9677de59db9b956b08490",
    ),
    Project(
        "boltons",
        "26.2.0",
        "BSD-3-Clause",
        "d39cfd15c1a1c3bd4d705c82252fa9edb8e4f5e8cc039f8e39afac7b1b47e92c",
    ),
    Project(
        "arrow",
        "1.4.0",
        "Apache-2.0",
        "ed0cc050e98001b8779e84d461b0098c4ac597e88704a655582b21d116e526d7",
    ),
    Project(
        "tenacity",
        "9.2.1",
        "Apache-2.0",
        "a606b5c808d0cded4a359d5b9932d867ff2a6a6b64d37350260fd01bbdf83839",
    ),
]


def check_disjoint() -> None:
    from grucomplete.training.corpus.manifest import DEFAULT_MANIFEST, load_manifest

    lists = [DEFAULT_MANIFEST, DEFAULT_MANIFEST.with_name("heldout_packages.toml")]
    taken = {p.name.lower() for path in lists for p in load_manifest(path).packages}
    clash = [p.name for p in PROJECTS if p.name.lower() in taken]
    if clash:
        raise SystemExit(f"in the training or held-out lists already: {', '.join(clash)}")


def held_out(relative: str) -> bool:
    """Whether a file is held out: a hash of its path, so the split never depends on order."""
    digest = hashlib.sha256(relative.encode()).digest()
    return int.from_bytes(digest[:4], "big") < HELDOUT_SHARE * 2**32


def prepare(project: Project) -> Path:
    """Fetch, extract and split one project; returns its folder."""
    from grucomplete.training.corpus.manifest import check_license
    from grucomplete.training.corpus.sdist import download_sdist, extract_python_files

    check_license(project.license)
    base = WORK / f"{project.name}-{project.version}"
    root = base / "project"
    if (base / "split.json").is_file():
        _ignore_heldout(root, json.loads((base / "split.json").read_text())["heldout"])
        return base
    archive = download_sdist(project.name, project.version, WORK / "sdists", project.sha256)
    extract_python_files(archive, root)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    heldout = [f for f in files if held_out(f)]
    for rel in heldout:
        link = root / ".heldout" / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(root / rel, link.parent))
    lines = sum(len((root / f).read_text(errors="replace").splitlines()) for f in files)
    split = {"files": len(files), "heldout": heldout, "lines": lines}
    (base / "split.json").write_text(json.dumps(split, indent=1))
    _ignore_heldout(root, heldout)
    return base


def _ignore_heldout(root: Path, heldout: list[str]) -> None:
    """List the held-out files in the project's .gitignore: the workspace memory never holds
    any of them (not only the one being typed, which the server masks while it is open), so
    no held-out text reaches the answers. They stay on disk, where static analysis sees them."""
    (root / ".gitignore").write_text("".join(f"/{rel}\n" for rel in heldout))


def retrain(base: Path, flags: str, name: str = "retrained") -> Path:
    """`grucomplete train project --from default FLAGS` on one thread; its checkpoint folder.

    The project's .gitignore lists the held-out files, so training never reads them."""
    out = base / name
    record = out / "retrain_flags.txt"
    if (out / "config.json").is_file() and record.is_file() and record.read_text() == flags:
        return out
    command = [
        sys.executable, "-m", "grucomplete.training", "train", str(base / "project"),
        "--from", "default", "--out", str(out), "--no-progress", *shlex.split(flags),
    ]  # fmt: skip
    print("$", shlex.join(command), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.monotonic()
    subprocess.run(command, env=env, check=True, capture_output=True)
    record.write_text(flags)
    print(f"  trained in {time.monotonic() - started:.0f} s", flush=True)
    return out


def heldout_scores(base: Path, model_dir: Path, files: int, tokens: int) -> dict[str, dict]:
    """Next-token loss and top-1 on the held-out files, default against `model_dir`."""
    sys.path.insert(0, str(Path(__file__).parent))
    import retrain_heldout as measure

    return measure.compare_on_heldout(base, ["default", str(model_dir)], files, tokens, skip=512)


def run_gauge(base: Path, label: str, options: dict, args: argparse.Namespace) -> dict:
    root = base / "project"
    out = base / f"{label}.json"
    with tempfile.TemporaryDirectory() as cache:
        # A private cache: every run builds its memory from nothing, as a new user's would.
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        if args.prebuild and options.get("workspaceMemory"):
            prebuild_memory(root, cache)  # the server reloads it: latency once it is built
        command = [
            sys.executable, str(GAUGE), "--server", args.server, "--root", str(root),
            "--corpus", str(root / ".heldout"), "--files", str(args.files),
            "--queries", str(args.queries), "--seed", str(args.seed), "--warmup", "2",
            "--settle-s", str(args.settle_s if options.get("workspaceMemory") else 0),
            "--init-options", json.dumps(options), "--label", label, "--json", str(out),
            "--server-stderr", str(base / f"{label}.stderr"), "--examples", "0",
        ]  # fmt: skip
        print("$", shlex.join(command), flush=True)
        done = subprocess.run(command, env=env, check=False, capture_output=True, text=True)
    # The gauge's last line: `label=.. mrr=.. ident_top1=.. ...`
    last = done.stdout.strip().splitlines()[-1]
    pairs = dict(item.split("=", 1) for item in last.split() if "=" in item)
    return {m: float(pairs[m]) if pairs.get(m, "-") != "-" else 0.0 for m in METRICS}


def read_summary(path: Path) -> dict:
    """The METRICS of an earlier gauge run, from its JSON."""
    data = json.loads(path.read_text())
    summary = data["summary"]
    return {
        "mrr": summary["mrr10_member_ident"],
        "ident_top1": summary["ident"]["top1"],
        "member_top1": summary["member"]["top1"],
        "line_es1": summary["line"]["es1"],
        "p50_ms": summary["latency_ms"]["p50"],
        "p99_ms": summary["latency_ms"]["p99"],
        "rss_mb": data["meta"].get("peak_rss_mb") or 0.0,
    }


def prebuild_memory(root: Path, cache: str) -> None:
    """Build the workspace memory into the store a server with XDG_CACHE_HOME=`cache` reads, so
    the gauge measures completions with the memory ready, not while it builds."""
    from grucomplete.model.checkpoint import resolve_model_dir
    from grucomplete.model.memory_builder import MemoryBuilder, memory_dir
    from grucomplete.model.workspace_memory import WorkspaceMemory

    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = cache
    try:
        directory = memory_dir(root)
    finally:
        if before is None:
            os.environ.pop("XDG_CACHE_HOME")
        else:
            os.environ["XDG_CACHE_HOME"] = before
    import torch

    torch.set_num_threads(1)  # as the server's builder: two threads crawl on busy cores
    MemoryBuilder(root, resolve_model_dir("default"), WorkspaceMemory(), directory=directory).sync()


def reciprocal_ranks(base: Path, label: str) -> list[float]:
    """1/rank (0 beyond 10 or missing) of each member and identifier query of a gauge run."""
    queries = json.loads((base / f"{label}.json").read_text())["queries"]
    return [
        1.0 / q["rank"] if q.get("rank") and q["rank"] <= 10 else 0.0
        for q in queries
        if q["kind"] in ("member", "ident")
    ]


def paired_interval(pairs: list[tuple[float, float]], draws: int = 4000) -> tuple[float, ...]:
    """Mean of b - a and its 95% interval by a paired bootstrap over the queries."""
    import random

    rng = random.Random(0)
    diffs = [b - a for a, b in pairs]
    means = sorted(sum(rng.choice(diffs) for _ in diffs) / len(diffs) for _ in range(draws))
    return sum(diffs) / len(diffs), means[int(0.025 * draws)], means[int(0.975 * draws)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", default=",".join(p.name for p in PROJECTS[:4]))
    parser.add_argument("--server", default="grucomplete serve")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settle-s", type=float, default=60.0)
    parser.add_argument("--memory", type=float, default=0.25, help="workspaceMemory weight")
    parser.add_argument(
        "--budget-ms", type=float, default=80.0, help="latencyBudgetMs of both configurations"
    )
    parser.add_argument("--configs", default="default,memory")
    parser.add_argument(
        "--baseline", default="default", help="the configuration the others are compared with"
    )
    parser.add_argument(
        "--retrained-name", default="retrained",
        help="the retrained model's folder in the project's and its gauge label (another "
        "name keeps an earlier recipe's model and results)",
    )  # fmt: skip
    parser.add_argument(
        "--retrain-flags", default="", help="added to `grucomplete train --from default`"
    )
    parser.add_argument("--fetch-only", action="store_true")
    parser.add_argument(
        "--prebuild",
        action="store_true",
        help="build the memory before the server starts (it reloads it): steady-state latency",
    )
    parser.add_argument(
        "--reuse-default",
        action="store_true",
        help="read the default's results from an earlier run's default.json instead of rerunning",
    )
    args = parser.parse_args(argv)
    check_disjoint()
    wanted = args.projects.split(",")
    projects = [p for p in PROJECTS if p.name in wanted]
    budget = {"latencyBudgetMs": args.budget_ms}
    every = {
        "default": {"workspaceMemory": 0.0, **budget},
        # The model and the document's caches alone: no line is recalled from the project.
        "caches": {"workspaceMemory": 0.0, "recallLines": False, **budget},
        "memory": {"workspaceMemory": args.memory, **budget},
        "retrained": {"workspaceMemory": 0.0, **budget},  # + its model, per project
        "both": {"workspaceMemory": args.memory, **budget},  # retrained, with the memory
    }
    every[args.retrained_name] = every.pop("retrained")
    configs = {c: every[c] for c in args.configs.split(",")}
    rows: dict[str, dict[str, dict]] = {}
    for project in projects:
        base = prepare(project)
        split = json.loads((base / "split.json").read_text())
        print(f"{project.name} {project.version}: {split['files']} files, {split['lines']} lines, "
              f"{len(split['heldout'])} held out", flush=True)  # fmt: skip
        if args.fetch_only:
            continue
        options = dict(configs)
        if {args.retrained_name, "both"} & set(configs):
            model = retrain(base, args.retrain_flags, args.retrained_name)
            for config in {args.retrained_name, "both"} & set(configs):
                options[config] = {**configs[config], "model": str(model.resolve())}
            for label, s in heldout_scores(base, model, args.files, 512).items():
                print(f"  held-out tokens, {label:9}: nats/token {s['nats_cache']:.3f}, top-1 "
                      f"{s['top1_cache']:.3f}, at name starts {s['name_top1']:.3f}")  # fmt: skip
        rows[project.name] = {
            c: read_summary(base / "default.json")
            if c == "default" and args.reuse_default and (base / "default.json").is_file()
            else run_gauge(base, c, o, args)
            for c, o in options.items()
        }
    if not rows:
        return 0
    print(f"\n{'project':12} {'config':8} " + " ".join(f"{m:>11}" for m in METRICS))
    for name, by_config in rows.items():
        for config, summary in by_config.items():
            cells = " ".join(f"{summary[m]:>11.3f}" for m in METRICS)
            print(f"{name:12} {config:8} {cells}")
    for config in configs:
        mean = {m: sum(r[config][m] for r in rows.values()) / len(rows) for m in METRICS}
        print(f"{'mean':12} {config:8} " + " ".join(f"{mean[m]:>11.3f}" for m in METRICS))
    baseline = args.baseline
    for config in configs:
        if config == baseline:
            continue
        gain = {
            m: sum(r[config][m] - r[baseline][m] for r in rows.values()) / len(rows)
            for m in METRICS
        }
        print(f"{'gain':12} {config:8} " + " ".join(f"{gain[m]:>+11.3f}" for m in METRICS))
    # Is a gain in MRR more than the positions drawn? Paired over the same queries.
    for config in configs:
        if config == baseline:
            continue
        pooled = []
        for name in rows:
            base = next(WORK.glob(f"{name}-*"))
            a, b = reciprocal_ranks(base, baseline), reciprocal_ranks(base, config)
            pairs = list(zip(a, b, strict=True))
            pooled += pairs
            mean, low, high = paired_interval(pairs)
            print(f"MRR {config} - {baseline}, {name}: {mean:+.3f} (95% {low:+.3f} to {high:+.3f})")
        mean, low, high = paired_interval(pooled)
        print(f"MRR {config} - {baseline}, all {len(pooled)} queries: {mean:+.3f} "
              f"(95% {low:+.3f} to {high:+.3f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
