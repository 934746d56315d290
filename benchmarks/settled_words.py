"""What `settledWords` saves: model rows per popup, and how the popup's words change.

    python benchmarks/settled_words.py .work/heldout [--max-files 6] [--queries 40] [--seed 2]
        [--values 0,3,4,5,6]

At the identifier and member positions of `grucomplete eval`'s plan, each of the last
`--type-last` characters before the end of the expected word is a popup (words only, as VS
Code asks), decoded afresh from the state after the text before it. For each value of
`settledWords` (0: wait until every offered word is certain, the behaviour before the setting),
in the same run: model rows stepped per popup (beam steps x beams: the same on any machine),
the worker's CPU time per popup (`time.thread_time`), and how the first 1 / 5 / 10 words agree
with the first value's. Settings are otherwise the server's defaults without static analysis.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
from keystroke_reuse import CountingModel  # beside this script

from grucomplete.model import completions as completions_module
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.session import DocumentSession
from grucomplete.server.options import ServerOptions
from grucomplete.training.evaluation.queries import SampleConfig, load_files, plan_queries


def popups(engine: CompletionEngine, plan, settings: ServerOptions, type_last: int) -> dict:
    tops, cpu_ms, rows = [], [], []
    for index, source in enumerate(plan.files):
        session = DocumentSession(engine, keep_outputs=settings.neural_cache > 0)
        for q in (q for q in plan.queries if q.file == index and q.kind != "line"):
            end = q.offset + len(q.expected)
            for cursor in range(max(0, end - type_last), end + 1):
                text = source.text[:cursor]
                session.prompt(engine.heal(text).context)  # the state is read outside the time
                session._last = None  # decode afresh, not from the last answer
                stepped, began = CountingModel.rows, time.thread_time()
                answer = session.complete(text, settings, lines=False)
                cpu_ms.append((time.thread_time() - began) * 1000)
                rows.append(CountingModel.rows - stepped)
                tops.append([w.label for w in answer.words[:10]])
    return dict(tops=tops, cpu_ms=cpu_ms, rows=rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--model", default="default")
    p.add_argument("--max-files", type=int, default=6)
    p.add_argument("--queries", type=int, default=40, help="identifier and member positions")
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--type-last", type=int, default=4)
    p.add_argument(
        "--values", default="0,3,4,5,6", help="settledWords values; the first is the reference"
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    engine = CompletionEngine.load(args.model, precision="int8")
    real = completions_module.decode_together
    completions_module.decode_together = lambda model, *a, **k: real(CountingModel(model), *a, **k)
    config = SampleConfig(args.max_files, args.queries // 2, 0, seed=args.seed)
    plan = plan_queries(load_files(args.paths, config), config)
    base = replace(ServerOptions(), static_analysis=False)
    print("| settledWords | popups | model rows per popup | CPU ms p50 / mean "
          "| same first word | same first 5 | same first 10 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    reference = None
    for value in (int(v) for v in args.values.split(",")):
        found = popups(engine, plan, replace(base, settled_words=value), args.type_last)
        reference = reference or found["tops"]
        pairs = list(zip(reference, found["tops"], strict=True))
        same = [sum(a[:n] == b[:n] for a, b in pairs) / len(pairs) for n in (1, 5, 10)]
        cpu = found["cpu_ms"]
        print(f"| {value} | {len(cpu)} | {statistics.mean(found['rows']):.1f} | "
              f"{statistics.median(cpu):.1f} / {statistics.mean(cpu):.1f} | "
              f"{same[0]:.3f} | {same[1]:.3f} | {same[2]:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
