"""Requests with no idle time between them, with and without the next window read beside.

    python benchmarks/read_beside.py [--corpus .work/heldout] [--files 3] [--rounds 2]
        [--model DIR] [--context-tokens 512]

Each held-out file is completed at positions 40-200 characters apart, one request straight
after the other (no idle time, as in the shared gauge's jumps), by a `DocumentSession`
whose engine reads the next window on its spare core (`PreparedWindows.read_beside`) and by
one whose engine does not, alternating, in one process. Prints the medians and p90 of the
read and of decoding, per request, and how many requests read more than half a window.
"""

from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.completion_settings import CompletionSettings
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.layer_pipeline import worth_threads
from grucomplete.model.session import DocumentSession
from grucomplete.model.window import CONTEXT_TOKENS


def replay(engine: CompletionEngine, text: str, seed: int) -> list[tuple[int, float, float]]:
    """(tokens read, read ms, decode ms) of each request at positions through `text`."""
    session, rng, settings = DocumentSession(engine), random.Random(seed), CompletionSettings()
    position, work = min(len(text), 2000), []
    session.complete(text[:position], settings)
    while True:
        position += rng.randint(40, 200)
        while position < len(text) and text[position - 1].isalnum():
            position += 1  # at the end of a word, where an editor asks
        if position >= len(text):
            return work
        session.complete(text[:position], settings)
        done = session.last_work
        work.append((done.tokens_read, done.read_ms, done.decode_ms))


def p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * len(values))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path(".work/heldout"))
    parser.add_argument("--files", type=int, default=3, help="the largest held-out files")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    parser.add_argument("--context-tokens", type=int, default=CONTEXT_TOKENS)
    args = parser.parse_args()
    files = sorted(args.corpus.rglob("*.py"), key=lambda p: p.stat().st_size)[-args.files :]
    texts = [f.read_text(encoding="utf-8", errors="replace")[:40_000] for f in files]
    checkpoint = load_checkpoint(args.model)
    engine = CompletionEngine(checkpoint, context_tokens=args.context_tokens, layer_threads=True)
    if not worth_threads():
        print("one core here: the server would not read beside (measured anyway)")
    spare = engine.beside
    runs: dict[str, list[tuple[int, float, float]]] = {"alone": [], "beside": []}
    for round_ in range(args.rounds):
        for name in runs:
            engine.beside = spare if name == "beside" else None
            for index, text in enumerate(texts):
                runs[name].extend(replay(engine, text, round_ * 100 + index))
    engine.beside = spare
    half = engine.context_tokens // 2
    print(
        "requests | read ms p50 / p90 | decode ms p50 / p90 | both p50 / p90 / p99"
        " | reads over half a window"
    )
    for name, work in runs.items():
        reads, decodes = [w[1] for w in work], [w[2] for w in work]
        both = sorted(r + d for r, d in zip(reads, decodes, strict=True))
        p99 = both[int(0.99 * len(both))]
        print(
            f"{name}: {len(work)} | {statistics.median(reads):.1f} / {p90(reads):.1f} | "
            f"{statistics.median(decodes):.1f} / {p90(decodes):.1f} | "
            f"{statistics.median(both):.1f} / {p90(both):.1f} / {p99:.1f} | "
            f"{sum(w[0] > half for w in work)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
