"""`grucomplete eval --model DIR PATHS...`: how well a model completes Python it did not train on.

Prints a plain table (and with `--json OUT`, every number and every query) of: perplexity and
bits per token / per character with next-token accuracy; word completion top-1/top-5 for
members and other identifiers with 0 and 1 characters typed; rest-of-line exact match and edit
similarity; and the share of keystrokes a user saves by accepting right word suggestions.
`--compare OTHER` answers the same queries with a second model: the table's columns are then
A (`--model`), B (`--compare`), B - A, and which of the two is better on that row.
Bad input is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from grucomplete.model.checkpoint import CheckpointError
from grucomplete.model.completion_settings import CompletionSettings
from grucomplete.model.decode_options import PRECISIONS
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.settings_flags import add_settings_flags, settings_from
from grucomplete.model.workspace_memory import WorkspaceMemory

from .model_eval import ModelReport, evaluate_model
from .queries import SampleConfig, SourceFile, load_files, plan_queries

PROG = "grucomplete eval"

# (label, summary section, key, format); format "pct" numbers are shares shown as percents.
ROWS = [
    ("language model, teacher-forced", None, None, None),
    ("  tokens", "lm", "tokens", "int"),
    ("  perplexity", "lm", "perplexity", "2f"),
    ("  bits per token", "lm", "bits_per_token", "3f"),
    ("  bits per char", "lm", "bits_per_char", "3f"),
    ("  next-token top-1", "lm", "next_token_top1", "pct"),
    ("  next-token top-5", "lm", "next_token_top5", "pct"),
    *[
        row
        for kind, title in (("member", "member after '.'"), ("ident", "other identifier"))
        for typed in (0, 1)
        for row in (
            (f"{title}, {typed} typed", f"{kind}@{typed}", "n", "n"),
            ("  top-1", f"{kind}@{typed}", "top1", "pct"),
            ("  top-5", f"{kind}@{typed}", "top5", "pct"),
        )
    ],
    ("rest of line, at its first non-blank", "line", "n", "n"),
    ("  exact match @1", "line", "em1", "pct"),
    ("  exact match @5", "line", "em5", "pct"),
    ("  edit similarity @1", "line", "es1", "pct"),
    ("junk, top 5 items (as the gauge's junk.py)", "junk", "items", "n"),
    ("  invented names at identifiers", "junk", "invented", "pct"),
    ("  closing an unopened bracket", "junk", "unmatched", "pct"),
    ("typing lines, taking right word suggestions", "typing", "n", "n"),
    ("  keystrokes saved", "typing", "saved", "pct"),
    ("run", None, None, None),
    ("  seconds", "run", "seconds", "1f"),
    ("  median ms per completion", "run", "call_ms_p50", "1f"),
    ("  contexts computed from scratch", "run", "from_scratch", "int"),
]


# The model's own ranking, five words and five lines per query: what the model knows, apart
# from the server's caches (a teacher-forced pass keeps no neural-cache keys) and its budget.
EVAL_SETTINGS = CompletionSettings(
    num_candidates=5, line_candidates=5, identifier_cache=0.0, neural_cache=0.0
)
NOT_EVALUATED = {"latency_budget_ms", "line_completions", "neural_cache", "ghost_text_threshold"}

# `--workspace` without `--workspace-memory`: the weight the server's setting is documented with.
WORKSPACE_WEIGHT = 0.35

# Rows where a lower number is better; on every other row with a difference, higher is better
# (token counts and run times have no better side).
LOWER_IS_BETTER = {
    ("lm", "perplexity"),
    ("lm", "bits_per_token"),
    ("lm", "bits_per_char"),
    ("junk", "invented"),
    ("junk", "unmatched"),
}


def _tagged(progress: Callable[[str], None], tag: str, line: str) -> None:
    progress(tag + line)


class UsageError(Exception):
    """Bad input from the user; the message is shown as is."""


def _parser() -> argparse.ArgumentParser:
    s = SampleConfig()
    p = argparse.ArgumentParser(
        prog=PROG, description="Measure a model on held-out Python files (not trained on)."
    )
    p.add_argument("paths", nargs="+", type=Path, help="Python files or directories")
    p.add_argument("--model", default="default", help="checkpoint directory (default: bundled)")
    p.add_argument(
        "--compare",
        metavar="OTHER_MODEL",
        help="a second model on the same queries: the table shows A (--model), B (this one), "
        "B - A, and which is better on each row",
    )
    p.add_argument(
        "--workspace",
        metavar="DIR",
        type=Path,
        help="the project the files are held out of: answer with and without the workspace "
        "memory of its other files (the table's A and B; weight --workspace-memory, default "
        f"{WORKSPACE_WEIGHT})",
    )
    p.add_argument("--json", metavar="OUT", type=Path, help="write all numbers and queries here")
    p.add_argument("--max-files", type=int, default=s.max_files)
    p.add_argument("--queries", type=int, default=s.queries, help="queries per kind")
    p.add_argument("--typing-lines", type=int, default=s.typing_lines)
    p.add_argument("--max-chars-per-file", type=int, default=s.max_chars_per_file)
    p.add_argument("--seed", type=int, default=s.seed, help="picks files, queries and samples")
    p.add_argument("--precision", choices=PRECISIONS, default="int8")
    # One thread: the batch-1 recurrence does not parallelise, and on busy cores two threads
    # made a file pass 3 to over 100 times slower than one (2 shared cores, default model).
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    add_settings_flags(p, EVAL_SETTINGS, exclude=NOT_EVALUATED)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _configs(args: argparse.Namespace) -> tuple[SampleConfig, CompletionSettings]:
    for name in ("max_files", "queries", "max_chars_per_file", "threads"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.typing_lines < 0:
        raise UsageError("--typing-lines must be 0 or more")
    sample = SampleConfig(
        args.max_files, args.queries, args.typing_lines, args.max_chars_per_file, args.seed
    )
    try:
        decode = settings_from(args, EVAL_SETTINGS)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return sample, decode


def _load(model: str, precision: str) -> CompletionEngine:
    try:
        return CompletionEngine.load(model, precision=precision)
    except CheckpointError as e:
        raise UsageError(f"cannot load model: {e}") from None


def _workspace_memory(
    args: argparse.Namespace, engine: CompletionEngine, files: list[SourceFile]
) -> WorkspaceMemory:
    """The memory of the project's files but the evaluated ones (masked: never read), built
    with the engine's model into the project's store, where the server finds it too."""
    from grucomplete.model.checkpoint import resolve_model_dir
    from grucomplete.model.memory_builder import MemoryBuilder

    memory = WorkspaceMemory()
    for f in files:
        memory.mask(str(Path(f.path).resolve()))
    began = time.perf_counter()
    builder = MemoryBuilder(
        args.workspace, resolve_model_dir(args.model), memory, args.precision, engine=lambda: engine
    )
    builder.sync()
    size = memory.size()
    if not args.quiet:
        print(
            f"workspace memory: {size['files']} files, {size['entries']:,} entries "
            f"({size['bytes'] / 1e6:.1f} MB) in {time.perf_counter() - began:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    if not size["entries"]:
        raise UsageError(f"{args.workspace}: no Python files besides the evaluated ones")
    return memory


def _number(value: float, fmt: str, sign: str = "") -> str:
    if fmt == "pct":
        return f"{value * 100:{sign}.1f}" + (" pt" if sign else "%")
    if fmt in ("int", "n"):
        return f"{value:{sign},}"
    if abs(value) >= 1e5:  # a perplexity of a model that never saw such text
        return f"{value:{sign}.3g}"
    return f"{value:{sign},.{fmt}}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _cell(value: Any, fmt: str) -> str:
    return _number(value, fmt) if _finite(value) else "-"


def _diff(a: Any, b: Any, fmt: str) -> str:
    return _number(b - a, fmt, "+") if _finite(a) and _finite(b) else "-"


def _better(section: str, key: str, fmt: str, a: Any, b: Any) -> str:
    """Which model is better on a row ("A", "B" or "same"); "" where neither side is."""
    lower = (section, key) in LOWER_IS_BETTER
    if not (lower or fmt == "pct") or not (_finite(a) and _finite(b)):
        return ""
    if a == b:
        return "same"
    return "B" if (b < a) == lower else "A"


def render(reports: list[ModelReport], header: str, second: str = "--compare") -> str:
    """The table: one column per model; with two, A (`--model`) and B (`second`: `--compare`
    or `--workspace`), then B - A and which is better on each row."""
    if len(reports) == 2:
        columns = ["A", "B", "B - A", "better"]
        models = [
            f"  A (--model):   {reports[0].model}",
            f"  B ({second}): {reports[1].model}",
            "  B - A: lower is better for perplexity and bits, higher for every share (%, pt)",
        ]
    else:
        columns = [Path(r.model.rstrip("/")).name or r.model for r in reports]
        models = [f"  {name}: {r.model}" for name, r in zip(columns, reports, strict=True)]
    width = max(12, *(len(c) + 2 for c in columns))
    out = [header, *models, f"{'':<44}" + "".join(f"{c:>{width}}" for c in columns)]
    for label, section, key, fmt in ROWS:
        if section is None or key is None or fmt is None:
            out.append(label)
            continue
        values = [r.summary.get(section, {}).get(key) for r in reports]
        if fmt == "n":
            out.append(f"{label} (n={_cell(values[0], 'n')})")
            continue
        cells = [_cell(v, fmt) for v in values]
        if len(reports) == 2 and section != "run":
            cells.append(_diff(values[0], values[1], fmt))
            cells.append(_better(section, key, fmt, values[0], values[1]))
        out.append(f"{label:<44}" + "".join(f"{c:>{width}}" for c in cells).rstrip())
    return "\n".join(out)


def compare(a: ModelReport, b: ModelReport) -> dict[str, Any]:
    """Second minus first for every number, and how often the two give the same top answer."""
    diff: dict[str, Any] = {}
    for section, numbers in a.summary.items():
        other = b.summary.get(section, {})
        diff[section] = {
            k: other[k] - v
            for k, v in numbers.items()
            if isinstance(v, int | float) and isinstance(other.get(k), int | float)
        }
    pairs = list(zip(a.records, b.records, strict=True))
    same = sum(ra["top"][:1] == rb["top"][:1] for ra, rb in pairs)
    diff["same_top1_answer"] = same / len(pairs) if pairs else None
    return diff


def summary_line(report: ModelReport) -> str:
    """One greppable line, like the gauge's last line."""
    s = report.summary
    parts = {
        "model": report.model,
        "bpc": f"{s['lm']['bits_per_char']:.4f}",
        "ppl": f"{s['lm']['perplexity']:.3f}",
        **{
            f"{k.replace('@', '')}_top1": f"{s[k].get('top1', 0):.4f}"
            for k in ("member@0", "member@1", "ident@0", "ident@1")
        },
        "line_em5": f"{s['line'].get('em5', 0):.4f}",
        "line_es1": f"{s['line'].get('es1', 0):.4f}",
        "saved": f"{s['typing'].get('saved', 0):.4f}",
        "junk_invented": f"{s.get('junk', {}).get('invented', 0):.4f}",
        "junk_unmatched": f"{s.get('junk', {}).get('unmatched', 0):.4f}",
    }
    return " ".join(f"{k}={v}" for k, v in parts.items())


def run(args: argparse.Namespace, argv: list[str]) -> str:
    sample, decode = _configs(args)
    if args.json is not None and not args.json.parent.is_dir():
        raise UsageError(f"{args.json}: its directory does not exist")
    try:
        files = load_files(args.paths, sample)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    if not files:
        raise UsageError("no usable Python files (UTF-8, under 200 KB, tokenizable, with a query)")
    plan = plan_queries(files, sample)
    engines = [(args.model, _load(args.model, args.precision))]
    if args.compare and args.workspace:
        raise UsageError("--compare and --workspace: one comparison at a time")
    if args.compare:
        engines.append((args.compare, _load(args.compare, args.precision)))
    memory, settings = None, [decode]
    if args.workspace is not None and not args.workspace.is_dir():
        raise UsageError(f"{args.workspace}: not a directory")

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        if args.workspace is not None:
            weight = decode.workspace_memory or WORKSPACE_WEIGHT
            memory = _workspace_memory(args, engines[0][1], files)
            name = f"{args.model} + workspace memory {weight} of {args.workspace}"
            engines.append((name, engines[0][1]))
            settings = [
                replace(decode, workspace_memory=0.0),
                replace(decode, workspace_memory=weight),
            ]
        # Compared, each model's progress says which it is (A or B): the same [1/n] came twice.
        tags = ["A: ", "B: "] if len(engines) == 2 else [""]
        reports = [
            evaluate_model(
                e,
                plan,
                settings[min(i, len(settings) - 1)],
                name,
                functools.partial(_tagged, progress, tag),
                memory,
            )
            for i, (tag, (name, e)) in enumerate(zip(tags, engines, strict=True))
        ]
    finally:
        torch.set_num_threads(threads)  # a caller in the same process keeps its setting
    chars = sum(len(f.text) for f in files)
    cut = sum(f.truncated for f in files)
    header = (
        f"{PROG}: {len(files)} files, {chars:,} chars ({cut} cut at "
        f"{sample.max_chars_per_file:,} chars), seed {sample.seed}, {args.precision}, "
        f"{decode.strategy} {decode.beam_width if decode.strategy == 'beam' else ''}".rstrip()
    )
    text = render(reports, header, "--workspace" if memory is not None else "--compare")
    difference = compare(*reports) if len(reports) == 2 else None
    if difference is not None:
        same = difference["same_top1_answer"]
        text += f"\nsame top answer on {_cell(same, 'pct')} of queries"
    if args.json is not None:
        document = {
            "command": ["grucomplete", "eval", *argv],
            "sample": asdict(sample),
            "decode": asdict(decode),
            "precision": args.precision,
            "files": [
                {"path": str(f.path), "chars": len(f.text), "truncated": f.truncated} for f in files
            ],
            "models": [asdict(r) for r in reports],
            "difference": difference,
        }
        try:
            args.json.write_text(json.dumps(document, indent=1) + "\n")
        except OSError as e:
            raise UsageError(f"{args.json}: cannot write ({e.strerror})") from None
    return text + "\n" + "\n".join(summary_line(r) for r in reports)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        print(run(args, argv))
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    return 0
