"""`grucomplete eval --model DIR PATHS...`: how well a model completes Python it did not train on.

Prints a plain table (and with `--json OUT`, every number and every query) of: perplexity and
bits per token / per character with next-token accuracy; word completion top-1/top-5 for
members and other identifiers with 0 and 1 characters typed; rest-of-line exact match and edit
similarity; and the share of keystrokes a user saves by accepting right word suggestions.
`--compare OTHER` answers the same queries with a second model and adds a difference column.
Bad input is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from grucomplete.model.checkpoint import CheckpointError
from grucomplete.model.completion_settings import CompletionSettings
from grucomplete.model.decode_options import PRECISIONS
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.settings_flags import add_settings_flags, settings_from

from .model_eval import ModelReport, evaluate_model
from .queries import SampleConfig, load_files, plan_queries

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


class UsageError(Exception):
    """Bad input from the user; the message is shown as is."""


def _parser() -> argparse.ArgumentParser:
    s = SampleConfig()
    p = argparse.ArgumentParser(
        prog=PROG, description="Measure a model on held-out Python files (not trained on)."
    )
    p.add_argument("paths", nargs="+", type=Path, help="Python files or directories")
    p.add_argument("--model", default="default", help="checkpoint directory (default: bundled)")
    p.add_argument("--compare", metavar="OTHER_MODEL", help="a second model on the same queries")
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


def render(reports: list[ModelReport], header: str) -> str:
    """The table: one column per model, and a difference column when there are two."""
    names = [Path(r.model.rstrip("/")).name or r.model for r in reports]
    if len(names) == 2 and names[0] == names[1]:
        names = [f"{names[0]} (1)", f"{names[1]} (2)"]
    columns = names + (["difference"] if len(reports) == 2 else [])
    width = max(12, *(len(c) + 2 for c in columns))
    models = [f"  {name}: {r.model}" for name, r in zip(names, reports, strict=True)]
    out = [header, *models, f"{'':<44}" + "".join(f"{c:>{width}}" for c in columns)]
    for label, section, key, fmt in ROWS:
        if section is None:
            out.append(label)
            continue
        values = [r.summary.get(section, {}).get(key) for r in reports]
        if fmt == "n":
            out.append(f"{label} (n={_cell(values[0], 'n')})")
            continue
        cells = [_cell(v, fmt) for v in values]
        if len(reports) == 2 and section != "run":
            cells.append(_diff(values[0], values[1], fmt))
        out.append(f"{label:<44}" + "".join(f"{c:>{width}}" for c in cells))
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
    if args.compare:
        engines.append((args.compare, _load(args.compare, args.precision)))

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        reports = [evaluate_model(e, plan, decode, name, progress) for name, e in engines]
    finally:
        torch.set_num_threads(threads)  # a caller in the same process keeps its setting
    chars = sum(len(f.text) for f in files)
    cut = sum(f.truncated for f in files)
    header = (
        f"{PROG}: {len(files)} files, {chars:,} chars ({cut} cut at "
        f"{sample.max_chars_per_file:,} chars), seed {sample.seed}, {args.precision}, "
        f"{decode.strategy} {decode.beam_width if decode.strategy == 'beam' else ''}".rstrip()
    )
    text = render(reports, header)
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
