"""Where to ask for completions in held-out files: the shared gauge's query kinds, sampled by seed.

Query positions come from Python's `tokenize`, with the definitions of `lsp_eval.py`:

- member: a non-keyword NAME right after a `.` (no space) that follows the end of an expression
  (a name, `)`, `]`, `}`, a string or a number); relative imports are left out.
- ident: any other non-keyword NAME.
- line: the first non-blank character of a line whose first token starts there (not a comment,
  not inside a multi-line string); expected = the rest of the line, right-stripped.

Files are walked, sorted, shuffled by the seed and taken until `max_files` are usable; then each
kind is sampled from the pooled candidates with the gauge's generator, so with the same files,
`--queries N` picks the positions the gauge picks with `--queries 3N` (when every kind has N).
Positions depend on the files and seed only, never on a model: two models see the same queries.
"""

from __future__ import annotations

import io
import keyword
import random
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from ..corpus.corpus import iter_source_files, read_source

KINDS = ("member", "ident", "line")
MAX_FILE_BYTES = 200 * 1024  # the gauge's limit: bigger files are usually generated code
_SKIPPED = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT,
            tokenize.ENDMARKER, tokenize.ENCODING}  # fmt: skip


@dataclass
class SampleConfig:
    max_files: int = 40  # files evaluated, taken in seeded order
    queries: int = 300  # queries per kind (member, ident, line)
    typing_lines: int = 50  # lines typed in the keystroke simulation
    # Longer files are cut at a statement end before this. The default never cuts a file under
    # the size limit (characters <= bytes), so the queries stay the gauge's.
    max_chars_per_file: int = MAX_FILE_BYTES
    seed: int = 0  # picks files, query positions and typing lines


@dataclass(frozen=True)
class Query:
    kind: str  # "member", "ident" or "line"
    file: int  # index into the evaluated files
    offset: int  # character offset of the word or line start (0 characters typed)
    expected: str  # the identifier, or the rest of the line
    after: str = ""  # ident only: the token before it (tells `def NAME` from uses)


@dataclass(frozen=True)
class TypingLine:
    file: int
    offset: int  # character offset of the line's first non-blank character
    text: str  # the line from there, right-stripped
    words: tuple[tuple[int, int], ...]  # NAME spans (keywords too), relative to `offset`


@dataclass
class SourceFile:
    path: Path
    text: str  # line breaks normalised to "\n", possibly cut to the size budget
    truncated: bool = False
    candidates: dict[str, list[Query]] = field(default_factory=dict)
    lines: list[TypingLine] = field(default_factory=list)


@dataclass
class QueryPlan:
    files: list[SourceFile]
    queries: list[Query]  # in file, then offset order
    typing: list[TypingLine]


def normalise(text: str) -> str:
    """As an editor sends it over LSP: `\\r\\n` and `\\r` become `\\n`."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _tokens(text: str) -> list[tokenize.TokenInfo] | None:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, ValueError):  # IndentationError is a SyntaxError
        return None


def cut_to_budget(text: str, tokens: list[tokenize.TokenInfo], max_chars: int) -> str:
    """The longest prefix within `max_chars` that ends a logical line, so it still tokenizes."""
    starts = _line_starts(text)
    cut = 0
    for t in tokens:
        if t.type == tokenize.NEWLINE:
            end = starts[t.end[0] - 1] + t.end[1]
            if end > max_chars:
                break
            cut = end
    return text[:cut]


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for line in text.split("\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    return starts


def _ends_expression(t: tokenize.TokenInfo | None) -> bool:
    if t is None:
        return False
    if t.type == tokenize.NAME:
        return not keyword.iskeyword(t.string) or t.string in ("None", "True", "False")
    return t.type in (tokenize.STRING, tokenize.NUMBER) or t.string in (")", "]", "}")


def extract(source: SourceFile, index: int, tokens: list[tokenize.TokenInfo]) -> None:
    """Fill `source.candidates` (every possible query) and `source.lines` (typing lines)."""
    text = source.text
    lines = text.split("\n")
    starts = _line_starts(text)
    found: dict[str, list[Query]] = {k: [] for k in KINDS}
    words_of_row: dict[int, list[tuple[int, int]]] = {}
    line_rows: list[tuple[int, int, str]] = []  # (row, offset, rest of line)
    seen_rows: set[int] = set()
    prev = prev2 = None  # the previous two significant tokens
    for t in tokens:
        if t.type in _SKIPPED:
            if t.type == tokenize.COMMENT:
                seen_rows.add(t.start[0])
            continue
        row, col = t.start
        if row > len(lines):
            continue
        offset = starts[row - 1] + col
        if row not in seen_rows:
            seen_rows.add(row)
            line = lines[row - 1]
            rest = line[col:].rstrip()
            if col == len(line) - len(line.lstrip()) and rest:
                found["line"].append(Query("line", index, offset, rest))
                line_rows.append((row, offset, rest))
        if t.type == tokenize.NAME and t.start[0] == t.end[0]:
            words_of_row.setdefault(row, []).append((offset, offset + len(t.string)))
        if t.type == tokenize.NAME and t.string.isidentifier() and not keyword.iskeyword(t.string):
            if prev is not None and prev.type == tokenize.OP and prev.string == ".":
                if prev.end == t.start and _ends_expression(prev2):
                    found["member"].append(Query("member", index, offset, t.string))
            else:
                after = prev.string if prev is not None else ""
                found["ident"].append(Query("ident", index, offset, t.string, after))
        prev2, prev = prev, t
    source.candidates = found
    source.lines = []
    for row, offset, rest in line_rows:
        spans = [(s - offset, e - offset) for s, e in words_of_row.get(row, [])]
        words = tuple((s, e) for s, e in spans if e <= len(rest))
        source.lines.append(TypingLine(index, offset, rest, words))


def python_files(paths: list[Path]) -> list[Path]:
    """Python files named directly or found under directories, sorted; raises if none."""
    found: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory")
        if path.is_dir():
            # No size limit here: big files are skipped when read, after the seeded shuffle, as
            # the gauge does, so that both shuffle the same list and pick the same files.
            found.update(iter_source_files(path, max_bytes=2**62))
        else:
            found.add(path)
    if not found:
        raise FileNotFoundError(f"no Python files under {', '.join(map(str, paths))}")
    return sorted(found, key=str)


def _read(path: Path) -> str | None:
    """The file's text, or None when it is too big, unreadable or not UTF-8."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
    except OSError:
        return None
    return read_source(path)


def load_files(paths: list[Path], config: SampleConfig) -> list[SourceFile]:
    """The first `max_files` usable files in seeded order (readable, tokenizable, with queries)."""
    order = python_files(paths)
    random.Random(config.seed).shuffle(order)
    chosen: list[tuple[SourceFile, list[tokenize.TokenInfo]]] = []
    for path in order:
        if len(chosen) >= config.max_files:
            break
        raw = _read(path)
        if raw is None:
            continue
        source = SourceFile(path, normalise(raw))
        tokens = _tokens(source.text)
        if tokens is not None and len(source.text) > config.max_chars_per_file:
            source.text = cut_to_budget(source.text, tokens, config.max_chars_per_file)
            source.truncated = True
            tokens = _tokens(source.text)
        if tokens is None:
            continue
        extract(source, -1, tokens)
        if any(source.candidates.values()):
            chosen.append((source, tokens))
    chosen.sort(key=lambda pair: str(pair[0].path))
    for index, (source, tokens) in enumerate(chosen):  # indices are known once files are sorted
        extract(source, index, tokens)
    return [source for source, _ in chosen]


def plan_queries(files: list[SourceFile], config: SampleConfig) -> QueryPlan:
    """Sample `config.queries` per kind and `config.typing_lines` lines, by seed."""
    rng = random.Random(config.seed + 1)  # the gauge's generator, drawn kind by kind
    picked: list[Query] = []
    for kind in KINDS:
        pool = [q for f in files for q in f.candidates[kind]]
        picked += rng.sample(pool, min(config.queries, len(pool)))
    picked.sort(key=lambda q: (q.file, q.offset, KINDS.index(q.kind)))
    lines = [line for f in files for line in f.lines if line.words]
    typing = random.Random(config.seed + 2).sample(lines, min(config.typing_lines, len(lines)))
    typing.sort(key=lambda t: (t.file, t.offset))
    return QueryPlan(files, picked, typing)
