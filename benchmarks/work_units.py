"""Each request's work in machine-independent units, this machine's cost per unit, and the
latency they predict, checked against the latency measured here.

    python benchmarks/work_units.py --corpus .work/heldout [--files 8] [--queries 120]
        [--type-last 8] [--costs OTHER.json] [--save-costs HERE.json] [--avx2]

Replays held-out files through a document session as the server does (text arriving before
each request: a jump or a paste; then the last K characters typed one at a time: keystrokes)
and counts per request the tokens fed, the beam steps and their rows, the bytes of the JSON
answer. The per-unit costs (`model/machine_fit.py`) are measured first, on a fixed prompt;
the prediction for every request is then units x costs, and the table gives its error.
`--costs` predicts with another machine's costs (saved there with `--save-costs`): the slow
machine seen from the fast one. `--avx2` runs the benchmark again in a subprocess with
PyTorch's kernels held to AVX2 (see docs/benchmarks.md for what that does and does not
emulate).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.machine_fit import (
    Costs,
    calibrate,
    count_work,
    measure_costs,
)
from grucomplete.model.session import DocumentSession
from grucomplete.server.options import ServerOptions

# Held to AVX2 on an AVX-512 machine: ATen's kernels, oneDNN's, MKL's and FBGEMM's int8 GEMM.
AVX2_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
}


def positions(text: str, count: int, rng: random.Random) -> list[int]:
    """Cursor offsets at starts of words, as the gauge picks them, in file order."""
    starts = [
        i
        for i in range(200, len(text))
        if (text[i].isalpha() or text[i] == "_")
        and not (text[i - 1].isalnum() or text[i - 1] == "_")
    ]
    return sorted(rng.sample(starts, min(count, len(starts))))


def json_bytes(result: object) -> tuple[int, float]:
    """Size and time of the JSON answer an LSP client would get for `result`."""
    start = time.perf_counter()
    items = [
        {"label": s.label, "insertText": s.insert, "sortText": f"{i:04d}", "kind": 1}
        for i, s in enumerate([*result.words, *result.lines])
    ]
    data = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "result": {"isIncomplete": False, "items": items}}
    )
    return len(data), (time.perf_counter() - start) * 1000


def replay(engine: CompletionEngine, files: list[Path], queries: int, type_last: int, seed: int):
    rng = random.Random(seed)
    options = ServerOptions()
    per_file = max(1, queries // len(files))
    records = []  # (mode, work, ms, json bytes, json ms, after a dot)
    for path in files:
        text = path.read_text(errors="replace")
        session = DocumentSession(engine, options.cache.max_checkpoints, True, 0)
        for pos in positions(text, per_file, rng):
            modes = [("jump", pos - type_last)] if type_last else []
            modes += [("key", pos - k) for k in range(type_last - 1, -1, -1)] or [("jump", pos)]
            for mode, cut in modes:
                before = text[:cut]
                start = time.perf_counter()
                with count_work(engine) as work:
                    result = session.complete(before, options)
                ms = (time.perf_counter() - start) * 1000
                size, json_ms = json_bytes(result)
                dot = before.rstrip(
                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"
                )
                records.append((mode, work, ms, size, json_ms, dot.endswith(".")))
    return records


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def report(records, costs: Costs, label: str) -> None:
    print(
        f"\nper-unit costs ({label}): token {costs.token_ms:.3f} ms, feed call "
        f"{costs.call_ms:.3f} ms, step {costs.step_ms:.3f} ms + {costs.row_ms:.3f} ms a beam "
        f"row, request {costs.request_ms:.3f} ms"
    )
    head = (
        f"{'mode':<5}{'n':>5}{'fed p50/p99':>13}{'steps p50':>10}{'rows p50':>9}"
        f"{'measured p50/p99 ms':>21}{'predicted p50/p99 ms':>22}{'|err| p50':>10}"
        f"{'JSON B / ms':>14}{'after .':>8}"
    )
    print(head)
    for mode in ("jump", "key"):
        rows = [r for r in records if r[0] == mode]
        if not rows:
            continue
        fed = [r[1].fed_tokens for r in rows]
        measured = [r[2] for r in rows]
        predicted = [costs.predict_ms(r[1]) for r in rows]
        err = [abs(p - m) / m for p, m in zip(predicted, measured, strict=True)]
        steps, step_rows = [r[1].steps for r in rows], [r[1].step_rows for r in rows]
        json_size, json_ms = (statistics.median(r[i] for r in rows) for i in (3, 4))
        print(
            f"{mode:<5}{len(rows):>5}{pct(fed, 0.5):>6}/{pct(fed, 0.99):<6}"
            f"{pct(steps, 0.5):>10}{pct(step_rows, 0.5):>9}"
            f"{pct(measured, 0.5):>11.1f} / {pct(measured, 0.99):<7.1f}"
            f"{pct(predicted, 0.5):>12.1f} / {pct(predicted, 0.99):<7.1f}"
            f"{statistics.median(err):>9.0%}"
            f"{json_size:>8.0f} / {json_ms:.2f}"
            f"{sum(r[5] for r in rows) / len(rows):>8.0%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--queries", type=int, default=120)
    parser.add_argument("--type-last", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--costs", type=Path, help="another machine's costs: predict with them")
    parser.add_argument("--save-costs", type=Path, help="write this machine's costs here")
    parser.add_argument("--avx2", action="store_true", help="also run with kernels held to AVX2")
    args = parser.parse_args()
    torch.set_num_threads(1)
    engine = CompletionEngine(load_checkpoint(args.model), "int8")
    print(
        f"cpu capability {torch.backends.cpu.get_cpu_capability()}, "
        f"FBGEMM_ENABLE_INSTRUCTIONS={os.environ.get('FBGEMM_ENABLE_INSTRUCTIONS', '-')}"
    )
    costs = measure_costs(engine)
    calibrate(costs, engine, ServerOptions())
    files = sorted(args.corpus.rglob("*.py"))
    files = [f for f in files if f.stat().st_size > 4000]
    files = random.Random(args.seed).sample(files, min(args.files, len(files)))
    records = replay(engine, files, args.queries, args.type_last, args.seed)
    report(records, costs, "measured here")
    # Costs regressed on every other request predict the rest: how well units explain time.
    fitted = Costs.regress([(r[1], r[2]) for r in records[::2]])
    report(records[1::2], fitted, "regressed on the other half of the requests")
    if args.save_costs:
        args.save_costs.write_text(json.dumps(asdict(fitted)))
    if args.costs:
        report(records, Costs(**json.loads(args.costs.read_text())), f"from {args.costs}")
    if args.avx2:
        argv = [a for a in sys.argv if a != "--avx2"]
        print(
            "\n--- the same with kernels held to AVX2:",
            " ".join(f"{k}={v}" for k, v in AVX2_ENV.items()),
        )
        sys.stdout.flush()
        subprocess.run([sys.executable, *argv], env={**os.environ, **AVX2_ENV}, check=True)


if __name__ == "__main__":
    main()
