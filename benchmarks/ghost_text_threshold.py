"""Ghost text's confidence threshold: choose it on tuning files, report it on held-out files.

    python benchmarks/ghost_text_threshold.py .work/heldout [--max-files 24] [--queries 200]
        [--tune-seed 2] [--report-seed 1] [--pipeline server|model] [--no-workspace]
        [--json OUT]

For each query position of `grucomplete eval`'s plan (line starts, and the identifiers inside
lines), the line the server would show as ghost text is decoded and compared with the rest of
the line in the file: exact match and edit similarity. `--pipeline server` (the default) decodes
it as the server does after a popup, in a document session read up to the position (the
neural and identifier caches, lines kept to names that exist); `--pipeline model`, with the
caches off, from the state `grucomplete eval` computes (the measure before 2026-12-03).
Then, for each confidence measure (the line's probability, its probability per token, and a
logistic model of exactness over the line's features, fitted on the tuning positions) and
threshold, precision (exact and edit similarity of the lines shown) and coverage (share of
positions where a line is shown). The threshold is chosen on the tuning seed's files as the
one with the most coverage whose exact share is at least `--target`, then reported on the
report seed's files, those also picked by the tuning seed left out, so the two sets are
disjoint.

With the server's pipeline, the lines of the package's other files (each folder under a path
given is a package) are what the server's workspace index holds when that folder is open: lines
written before are recalled from them (`line_memory`); `--no-workspace` leaves them out.
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
from grucomplete.model.completions import decode_completions
from grucomplete.model.document_state import PromptState
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.line_memory import LineMemory
from grucomplete.model.session import DocumentSession
from grucomplete.training.evaluation.metrics import edit_similarity
from grucomplete.training.evaluation.model_eval import FilePrompts
from grucomplete.training.evaluation.queries import SampleConfig, load_files, plan_queries

# The server's settings; without the caches for `--pipeline model` (a teacher-forced pass keeps
# no keys for the neural cache).
SETTINGS = CompletionSettings()
MODEL_SETTINGS = replace(SETTINGS, neural_cache=0.0, identifier_cache=0.0)
THRESHOLDS = [0.0, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7]
THRESHOLDS += [0.125, 0.175, 0.225, 0.275, 0.325, 0.35, 0.375, 0.45]
THRESHOLDS.sort()
# The line's probability, its probability per token, and a logistic model of exactness over
# the line's features (`line_features`) fitted on the tuning positions.
MEASURES = ("probability", "per_token", "fitted")


def line_features(
    logits: torch.Tensor,
    first_token: int | None,
    logprob: float,
    tokens: int,
    ended: bool,
    at_line_start: bool,
    typed: int,
) -> list[float]:
    """What is known of a line once decoded. `logits` (1, V): the model's at the cursor."""
    logprobs = torch.log_softmax(logits[-1].float(), dim=-1)
    first = float(logprobs[first_token]) if first_token is not None else logprob
    return [
        logprob,
        first,  # the line's first token
        float(logprobs.max()),  # the likeliest first token: how sure the next step is
        math.log1p(tokens),
        float(ended),  # ended by a newline, not cut by the token budget
        float(at_line_start),
        min(typed, 4) / 4,  # characters of the word typed
        logprob - first,  # the rest of the line once its first token is given
    ]


def logistic(vector: list[float], weights: tuple[float, ...], bias: float) -> float:
    z = bias + sum(w * x for w, x in zip(weights, vector, strict=True))
    return 1 / (1 + math.exp(-max(min(z, 30.0), -30.0)))


def fit(records: list[dict], l2: float = 1e-2) -> tuple[list[float], float]:
    """Logistic regression of `exact` on the line's features (the positions with a line)."""
    rows = [r for r in records if r["features"] is not None]
    x = torch.tensor([r["features"] for r in rows], dtype=torch.float64)
    y = torch.tensor([float(r["exact"]) for r in rows], dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        z = x @ w + b
        value = torch.nn.functional.binary_cross_entropy_with_logits(z, y) + l2 * (w * w).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return [round(float(v), 4) for v in w.detach()], round(float(b.detach()), 4)


def score(records: list[dict], weights: tuple[float, ...], bias: float, name: str) -> None:
    for r in records:
        r[name] = logistic(r["features"], weights, bias) if r["features"] is not None else 0.0


def collect(
    engine: CompletionEngine,
    paths: list[Path],
    config: SampleConfig,
    skip: set[str],
    pipeline: str = "server",
    workspaces: dict[Path, LineMemory] | None = None,
):
    """One record per query position: the shown line's measures and its scores."""
    files = [f for f in load_files(paths, config) if str(f.path) not in skip]
    plan = plan_queries(files, config)
    records = []
    for index, source in enumerate(plan.files):
        queries = [q for q in plan.queries if q.file == index]
        if not queries:
            continue
        if pipeline == "model":
            contexts = {engine.heal(source.text[: q.offset]).context for q in queries}
            prompts = FilePrompts(engine, source, contexts)
        else:
            session = DocumentSession(engine)  # the queries come in offset order: it reads on
            line_source = None
            if workspaces is not None:
                package = next(w for w in workspaces if source.path.is_relative_to(w))
                line_source = workspaces[package].for_file(source.path)
        for q in queries:
            healed = engine.heal(source.text[: q.offset])
            if pipeline == "model":
                logits, state = prompts.after(healed.context)
                prompt = PromptState(logits, state, tokens_fed=0)
                found = decode_completions(engine, healed, prompt, MODEL_SETTINGS, words=False)
            else:
                prompt = session.prompt(healed.context)
                logits = prompt.logits
                found = decode_completions(
                    engine,
                    healed,
                    prompt,
                    SETTINGS,
                    words=False,
                    code=session.code,
                    line_source=line_source,
                )
            end = source.text.find("\n", q.offset)
            expected = source.text[q.offset : len(source.text) if end < 0 else end].strip()
            line = found.lines[0] if found.lines else None
            shown = line.insert.split("\n", 1)[0].strip() if line else ""
            ids = engine.tokenizer.encode(healed.removed + line.insert) if line else []
            tokens = max(len(ids), 1)
            line_before = source.text[source.text.rfind("\n", 0, q.offset) + 1 : q.offset]
            features = (
                line_features(
                    logits,
                    ids[0] if ids else None,
                    math.log(max(line.probability, 1e-300)),
                    tokens,
                    line.complete,
                    not line_before[: len(line_before) - len(healed.typed)].strip(),
                    len(healed.typed),
                )
                if line
                else None
            )
            records.append(
                dict(
                    file=str(source.path),
                    offset=q.offset,
                    kind="line" if q.kind == "line" else "inside",
                    probability=line.probability if line else 0.0,
                    per_token=line_confidence(line.probability, tokens) if line else 0.0,
                    features=features,
                    shown=shown,
                    expected=expected,
                    exact=bool(shown) and shown == expected,
                    similarity=edit_similarity(shown, expected) if shown else 0.0,
                )
            )
    return records, {str(f.path) for f in plan.files}


def package_lines(paths: list[Path]) -> dict[Path, LineMemory]:
    """Each package's lines (a folder under a path given), as the server's index holds them."""
    memories = {}
    for root in paths:
        for package in sorted(p for p in root.iterdir() if p.is_dir()):
            memory = memories[package] = LineMemory()
            for file in sorted(package.rglob("*.py")):
                memory.update(file, file.read_text(encoding="utf-8", errors="replace"))
    return memories


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
    p.add_argument("--pipeline", choices=("server", "model"), default="server")
    p.add_argument("--no-workspace", action="store_true", help="recall the document's lines only")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    torch.set_num_threads(1)
    engine = CompletionEngine.load(args.model, precision="int8")
    began = time.perf_counter()
    workspaces = None if args.no_workspace else package_lines(args.paths)
    config = SampleConfig(args.max_files, args.queries, 0, seed=args.tune_seed)
    tune, tune_files = collect(engine, args.paths, config, set(), args.pipeline, workspaces)
    config = replace(config, seed=args.report_seed)
    report, report_files = collect(
        engine, args.paths, config, tune_files, args.pipeline, workspaces
    )
    print(f"{len(tune)} tuning positions in {len(tune_files)} files, {len(report)} reported "
          f"in {len(report_files)} other files, {time.perf_counter() - began:.0f} s")  # fmt: skip
    weights, bias = fit(tune)
    print(f"fitted on the tuning positions: WEIGHTS = {tuple(weights)}, BIAS = {bias}")
    for records in (tune, report):
        score(records, tuple(weights), bias, "fitted")
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
    result["fitted"] = dict(weights=weights, bias=bias)
    if args.json:
        args.json.write_text(json.dumps(dict(result=result, tune=tune, report=report), indent=1))


if __name__ == "__main__":
    main()
