"""`grucomplete complete FILE:LINE:COL`: print ranked completions at a position in a file.

Positions are 1-based, as compilers print them; the column counts characters (code points).
Only the text before the position is read, by the editor's pipeline used once (a throwaway
session with the server's default settings) but without static analysis (jedi) or the
workspace, so the editor's completions can differ. Bad input is one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from .checkpoint import CheckpointError
from .completion_settings import CompletionSettings
from .completions import Completions
from .decode_options import PRECISIONS
from .engine import CompletionEngine
from .session import complete_once
from .settings_flags import add_settings_flags, settings_from
from .window import CONTEXT_TOKENS, MIN_CONTEXT_TOKENS

PROG = "grucomplete complete"
# What this command leaves out that the editor's completions have (said in --help and output).
WHAT_IT_USES = (
    "the model and the document's own caches: no static analysis (jedi) and no workspace, "
    "which the editor's completions also use"
)


class UsageError(Exception):
    """Bad input from the user; the message is shown as is."""


def _context_tokens(value: str) -> int:
    tokens = int(value)
    if tokens < MIN_CONTEXT_TOKENS:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_CONTEXT_TOKENS}")
    return tokens


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Print ranked completions (the word being typed and the rest of the line) "
        f"for the text before a position. {WHAT_IT_USES[0].upper()}{WHAT_IT_USES[1:]}.",
    )
    p.add_argument("target", help="FILE:LINE:COL (1-based), or '-' to read stdin with --line/--col")
    p.add_argument("--line", type=int, help="1-based line, when reading stdin")
    p.add_argument("--col", type=int, help="1-based column in characters, when reading stdin")
    p.add_argument("--model", default="default", help="checkpoint directory (default: bundled)")
    p.add_argument(
        "--precision", choices=PRECISIONS, default="int8", help="int8 (fast on CPU) or fp32 weights"
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the model")
    p.add_argument(
        "--context-tokens",
        type=_context_tokens,
        default=CONTEXT_TOKENS,
        help=f"tokens before the cursor the model reads, at most (default {CONTEXT_TOKENS})",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    # The server's settings, less those only an editor's repeated requests use.
    add_settings_flags(
        p, CompletionSettings(), exclude={"latency_budget_ms", "ghost_text_threshold"}
    )
    return p


def _read_source(path: str) -> str:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory") from None
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (byte {e.start})") from None


def _parse_target(args: argparse.Namespace) -> tuple[str, int, int]:
    if args.target == "-":
        if args.line is None or args.col is None:
            raise UsageError("reading stdin needs --line and --col")
        return "-", args.line, args.col
    parts = args.target.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise UsageError(f"{args.target}: expected FILE:LINE:COL with 1-based numbers")
    return parts[0], int(parts[1]), int(parts[2])


def text_before(source: str, line: int, col: int, name: str = "<input>") -> str:
    """The text before 1-based (line, col); col may be one past the end of the line."""
    lines = source.splitlines(keepends=True)
    if source == "" or source.endswith(("\n", "\r")):
        lines.append("")  # the empty line after a final line break is a valid position
    if not 1 <= line <= len(lines):
        raise UsageError(f"{name}: line {line} is out of range (1..{len(lines)})")
    content = lines[line - 1].rstrip("\r\n")
    if not 1 <= col <= len(content) + 1:
        raise UsageError(f"{name}:{line}: column {col} is out of range (1..{len(content) + 1})")
    return "".join(lines[: line - 1]) + content[: col - 1]


def percent(probability: float) -> str:
    """A probability as a percentage with three significant digits, however small: the
    fixed two decimals printed most of a list as 0.00%."""
    value = probability * 100
    if value == 0 or value >= 0.01:
        return f"{value:.3g}%"
    return f"{value:.2g}%"  # 3.2e-05%: scientific below 0.01%


def _render(result: Completions) -> str:
    out = [f"# {WHAT_IT_USES}", f"words (typed {result.typed!r}):"]
    out += [f"  {percent(s.probability):>9}  {s.label}" for s in result.words] or ["  (none)"]
    out.append("lines:")
    out += [f"  {percent(s.probability):>9}  {s.label}" for s in result.lines] or ["  (none)"]
    return "\n".join(out)


def _as_json(result: Completions) -> str:
    def items(suggestions: list) -> list[dict]:
        return [
            {
                "label": s.label,
                "insert": s.insert,
                "probability": s.probability,
                "complete": s.complete,
            }
            for s in suggestions
        ]

    return json.dumps(
        {"typed": result.typed, "words": items(result.words), "lines": items(result.lines)},
        indent=2,
    )


def run(args: argparse.Namespace) -> str:
    path, line, col = _parse_target(args)
    prefix = text_before(_read_source(path), line, col, "<stdin>" if path == "-" else path)
    try:
        settings = settings_from(args, CompletionSettings())
    except ValueError as e:
        raise UsageError(str(e)) from None
    torch.set_num_threads(max(1, args.threads))
    try:
        engine = CompletionEngine.load(
            args.model, args.precision, context_tokens=args.context_tokens
        )
    except CheckpointError as e:
        raise UsageError(f"cannot load model: {e}") from None
    result = complete_once(engine, prefix, settings)
    return _as_json(result) if args.json else _render(result)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        print(run(args))
    except BrokenPipeError:  # `| head` closed the pipe: the reader has what it wanted
        # The interpreter's final flush would fail on the closed pipe too: point it elsewhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    return 0
