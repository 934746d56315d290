"""Ghost text's confidence threshold: choose it on tuning files, report it on held-out files.

    python benchmarks/ghost_text_threshold.py .work/heldout [--max-files 24] [--queries 200]
        [--tune-seed 2] [--report-seed 1] [--json OUT]

For each query position of `grucomplete eval`'s plan (line starts, and the identifiers inside
lines), the line the server would show as ghost text is decoded with the server's line settings
(one line, `line_max_tokens`) from the state `grucomplete eval` computes, and compared with the
rest of the line in the file: exact match and edit similarity. Then, for each confidence measure
and threshold, precision (exact and edit similarity of the lines shown) and coverage (share of
positions where a line is shown). The threshold is chosen on the tuning seed's files as the one
with the most coverage whose exact share is at least `--target`, then reported on the report
seed's files, those also picked by the tuning seed left out, so the two sets are disjoint.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import torch

from grucomplete.model.completion_settings import CompletionSettings, line_confidence
from grucomplete.model.document_state import PromptState
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.session import decode_completions
from grucomplete.training.evaluation.metrics import edit_similarity
from grucomplete.training.evaluation.model_eval import FilePrompts
from grucomplete.training.evaluation.queries import SampleConfig, load_files, plan_queries

# The server's line settings; no neural cache (a teacher-forced pass keeps no keys for it).
SETTINGS = replace(CompletionSettings(), neural_cache=0.0, identifier_cache=0.0)
THRESHOLDS = [0.0, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7]
MEASURES = ("probability", "per_token")


def collect(engine: CompletionEngine, paths: list[Path], config: SampleConfig, skip: set[str]):
    """One record per query position: the shown line's measures and its scores."""
    files = [f for f in load_files(paths, config) if str(f.path) not in skip]
    plan = plan_queries(files, config)
    records = []
    for index, source in enumerate(plan.files):
        queries = [q for q in plan.queries if q.file == index]
        if not queries:
            continue
        contexts = {engine.heal(source.text[: q.offset]).context for q in queries}
        prompts = FilePrompts(engine, source, contexts)
        for q in queries:
            healed = engine.heal(source.text[: q.offset])
            logits, state = prompts.after(healed.context)
            prompt = PromptState(logits, state, tokens_fed=0)
            found = decode_completions(engine, healed, prompt, SETTINGS, words=False)
            end = source.text.find("\n", q.offset)
            expected = source.text[q.offset : len(source.text) if end < 0 else end].strip()
            line = found.lines[0] if found.lines else None
            shown = line.insert.split("\n", 1)[0].strip() if line else ""
            tokens = len(engine.tokenizer.encode(line.insert)) if line else 1
            records.append(
                dict(
                    file=str(source.path),
                    kind="line" if q.kind == "line" else "inside",
                    probability=line.probability if line else 0.0,
                    per_token=line_confidence(line.probability, tokens) if line else 0.0,
                    exact=bool(shown) and shown == expected,
                    similarity=edit_similarity(shown, expected) if shown else 0.0,
                )
            )
    return records, {str(f.path) for f in plan.files}


def sweep(records: list[dict], measure: str) -> list[dict]:
    rows = []
    for threshold in THRESHOLDS:
        shown = [r for r in records if r[measure] >= threshold and r[measure] > 0]
        n = len(shown)
        rows.append(
            dict(
                threshold=threshold,
                coverage=n / len(records) if records else 0.0,
                exact=sum(r["exact"] for r in shown) / n if n else math.nan,
                similarity=sum(r["similarity"] for r in shown) / n if n else math.nan,
                shown=n,
            )
        )
    return rows


def choose(rows: list[dict], target: float) -> dict | None:
    good = [r for r in rows if r["shown"] and r["exact"] >= target]
    return max(good, key=lambda r: r["coverage"]) if good else None


def table(title: str, rows: list[dict], chosen: float | None = None) -> str:
    out = [title, "| threshold | coverage | exact of shown | edit sim. of shown | shown |"]
    out.append("|---|---|---|---|---|")
    for r in rows:
        mark = " ←" if r["threshold"] == chosen else ""
        out.append(
            f"| {r['threshold']:.2f}{mark} | {r['coverage']:.1%} | {r['exact']:.1%} | "
            f"{r['similarity']:.3f} | {r['shown']} |"
        )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--model", default="default")
    p.add_argument("--max-files", type=int, default=24)
    p.add_argument("--queries", type=int, default=200, help="queries per kind")
    p.add_argument("--tune-seed", type=int, default=2)
    p.add_argument("--report-seed", type=int, default=1)
    p.add_argument("--target", type=float, default=0.45, help="exact share wanted on tuning")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    torch.set_num_threads(1)
    engine = CompletionEngine.load(args.model, precision="int8")
    began = time.perf_counter()
    config = SampleConfig(args.max_files, args.queries, 0, seed=args.tune_seed)
    tune, tune_files = collect(engine, args.paths, config, set())
    config = replace(config, seed=args.report_seed)
    report, report_files = collect(engine, args.paths, config, tune_files)
    print(f"{len(tune)} tuning positions in {len(tune_files)} files, {len(report)} reported "
          f"in {len(report_files)} other files, {time.perf_counter() - began:.0f} s")  # fmt: skip
    result = {}
    for measure in MEASURES:
        for kinds in (("line",), ("line", "inside")):
            name = f"{measure}, {'line starts' if kinds == ('line',) else 'all positions'}"
            tune_rows = sweep([r for r in tune if r["kind"] in kinds], measure)
            picked = choose(tune_rows, args.target)
            threshold = picked["threshold"] if picked else None
            report_rows = sweep([r for r in report if r["kind"] in kinds], measure)
            print(table(f"\n{name}: tuning (seed {args.tune_seed})", tune_rows, threshold))
            print(table(f"\n{name}: held out (seed {args.report_seed})", report_rows, threshold))
            result[name] = dict(threshold=threshold, tune=tune_rows, report=report_rows)
    if args.json:
        args.json.write_text(json.dumps(dict(result=result, tune=tune, report=report), indent=1))


if __name__ == "__main__":
    main()
