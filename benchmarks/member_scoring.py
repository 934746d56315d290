"""Scoring static analysis's names after `.`: time and rankings of two ways to do it.

    python benchmarks/member_scoring.py GAUGE.json [GAUGE2.json ...] [--negligible 1e-4]
        [--compare negligible|in-hand] [--model default]

At the member positions of `lsp_eval --json` record files (held-out files under
.work/heldout), jedi (unhurried, in this process) lists the receiver's names, and a fresh
`DocumentSession` per position, its prompt read beforehand, completes there with those names
twice. `--compare negligible` (round 5): following every name to its end (`negligible` 0)
and stopping at a prefix `negligible` times less probable than the best name
(`candidate_scoring.word_probabilities`). `--compare in-hand` (round 17): the names asked for
after a beam search of the model's own words, as when jedi is still working, and the names
in hand before decoding (`completions.NamesNow`), scored alone. Printed: the mean time of a
completion, the positions whose top 1 and top 10 are the same, and the MRR of the expected
name in both.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import torch

from grucomplete.model import candidate_scoring, completions
from grucomplete.model.checkpoint import load_checkpoint, resolve_model_dir
from grucomplete.model.completion_settings import CompletionSettings
from grucomplete.model.completions import KnownWords, NamesNow
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.session import DocumentSession
from grucomplete.server.static_worker import _Jedi

CORPUS = Path(".work/heldout")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gauge_json", nargs="+")
    parser.add_argument("--negligible", type=float, default=candidate_scoring.NEGLIGIBLE)
    parser.add_argument("--compare", choices=("negligible", "in-hand"), default="negligible")
    parser.add_argument("--model", default="default", help="a model directory, or 'default'")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    engine = CompletionEngine(load_checkpoint(resolve_model_dir(args.model)), "int8")
    analyzer, root = _Jedi(), CORPUS.resolve()
    settings = CompletionSettings(latency_budget_ms=1e6, line_completions=False)
    score = candidate_scoring.word_probabilities
    ways = (
        ("negligible 0", f"negligible {args.negligible:g}")
        if args.compare == "negligible"
        else ("asked after a search", "in hand, scored alone")
    )
    seconds = dict.fromkeys(ways, 0.0)
    reciprocal = dict.fromkeys(ways, 0.0)
    positions = same_top1 = same_top10 = 0
    for record in args.gauge_json:
        for q in json.loads(Path(record).read_text())["queries"]:
            if q["kind"] != "member":
                continue
            path = root / q["file"]
            before = path.read_text(errors="replace")[: q["offset"]]
            try:
                names = analyzer.names(dict(before=before, path=str(path), root=str(root)))
            except Exception:  # jedi fails on some code: no names there
                continue
            if not names:
                continue
            labels = {}
            for way in ways:
                negligible = 0.0 if way == "negligible 0" else args.negligible
                completions.word_probabilities = (  # type: ignore[assignment]
                    lambda *a, negligible=negligible, **k: score(*a, negligible=negligible, **k)
                )
                known: KnownWords = functools.partial(list, names)
                if way == ways[1] and args.compare == "in-hand":
                    known = NamesNow(list(names))
                session = DocumentSession(engine)
                session.prompt(engine.heal(before).context)
                started = time.perf_counter()
                words = session.complete(before, settings, known_words=known).words
                seconds[way] += time.perf_counter() - started
                labels[way] = [w.label for w in words]
                if q["expected"] in labels[way]:
                    reciprocal[way] += 1 / (labels[way].index(q["expected"]) + 1)
            completions.word_probabilities = score
            positions += 1
            before_labels, after_labels = labels.values()
            same_top1 += before_labels[:1] == after_labels[:1]
            same_top10 += before_labels == after_labels
    if not positions:
        parser.error("no member position where jedi lists names")
    print(f"member positions with jedi's names: {positions}")
    print(f"same top 1: {same_top1}, same top 10: {same_top10}")
    for way in ways:
        print(
            f"{way}: {seconds[way] / positions * 1000:.1f} ms a completion, "
            f"MRR {reciprocal[way] / positions:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
