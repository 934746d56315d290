"""Completion latency, flatness in file size, memory and startup of LSP servers, in one run.

    python benchmarks/server_speed.py --corpus .work/heldout [--reference jedi-language-server]

Each server (ours, then the reference when it is installed) is started as an editor starts it
and driven over stdio with pygls's client, on the same held-out files and positions:

- startup: spawn to the `initialize` response;
- typing: documents grow from empty as a person types them, with a completion after `.` and
  one character into names (the document holds the text up to the cursor, like the gauge);
- file size: the first completion after opening a 5,000-line file, then completions while
  typing a line at the end of a 200-line and of a 20,000-line file (ratio of medians);
- after a paste: 30 lines pasted below a file's first 30, then the first keystroke of the next
  line, at once and after a 0.5 s pause (what the server does with idle time);
- paced typing: a file's next `--paced-chars` characters typed at its end, PACED_PIECE at a
  time with PACED_PAUSE_S between (a person typing a few words, then thinking): the window
  moves every half window, and idle time may have read the next one ahead;
- memory: peak RSS (VmHWM) of the server process once 50 more documents are open, and of
  its child processes (our static-analysis worker) beside it.

Times are medians and 99th percentiles over the same positions; the last table gives ours
as a ratio of the reference, both measured in this run on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import re
import shlex
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

QUERY_AT = re.compile(r"(?<=\.)[A-Za-z_]|(?<![\w.])[A-Za-z_](?=\w)")  # after `.`, or 1 char in
TYPED_LINE = "        result = self.process(value, options=options)\n"
PASTE_LINES = 30
PASTE_PAUSES_S = (0.0, 0.5)
TYPED_LINE_REPEATS = 3  # 153 keystrokes per file size
PACED_FILES, PACED_START_LINES = 2, 40
PACED_PIECE, PACED_PAUSE_S = 12, 0.25


@dataclass
class Report:
    name: str
    init_ms: float = 0.0
    typing_ms: list[float] = field(default_factory=list)
    first_after_open_ms: float = 0.0
    keystroke_ms: dict[int, float] = field(default_factory=dict)  # lines -> median
    after_paste_ms: dict[float, list[float]] = field(default_factory=dict)  # pause -> times
    paced_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    children_rss_mb: float = 0.0
    errors: int = 0


def python_files(corpus: Path, count: int, seed: int) -> list[str]:
    files = sorted(p for p in corpus.rglob("*.py") if 2_000 < p.stat().st_size < 200_000)
    random.Random(seed).shuffle(files)
    texts = []
    for path in files:
        try:
            texts.append(path.read_text(encoding="utf-8").replace("\r\n", "\n"))
        except UnicodeDecodeError:
            continue
        if len(texts) == count:
            break
    return texts


def lines_of(texts: list[str], count: int) -> str:
    lines: list[str] = []
    while len(lines) < count:
        for text in texts:
            lines.extend(text.splitlines(keepends=True))
    return "".join(lines[:count])


def end_position(text: str, start: types.Position | None = None) -> types.Position:
    """Where `text` ends, in UTF-16 columns; after `start` when it continues from there."""
    line, column = (start.line, start.character) if start else (0, 0)
    breaks = text.count("\n")
    last = text[text.rfind("\n") + 1 :]
    width = len(last.encode("utf-16-le")) // 2
    return types.Position(line + breaks, width if breaks else column + width)


class Session:
    """One running server and the documents it has open, with where each one ends."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.versions: dict[str, int] = {}
        self.ends: dict[str, types.Position] = {}  # kept up to date: no re-reading a big text

    def open(self, uri: str, text: str) -> None:
        self.versions[uri], self.ends[uri] = 1, end_position(text)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )

    def append(self, uri: str, added: str) -> None:
        self.versions[uri] += 1
        end = self.ends[uri]
        self.ends[uri] = end_position(added, end)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=self.versions[uri], uri=uri),
                [types.TextDocumentContentChangePartial(range=types.Range(end, end), text=added)],
            )
        )

    async def complete_ms(self, uri: str) -> float:
        params = types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=self.ends[uri]
        )
        start = time.perf_counter()
        await self.client.text_document_completion_async(params)
        return (time.perf_counter() - start) * 1000


async def measure(
    name: str, command: str, texts: list[str], args: argparse.Namespace, options: object = None
) -> Report:
    report = Report(name)
    client = LanguageClient("grucomplete-benchmark", "1")
    start = time.perf_counter()
    await client.start_io(*shlex.split(command))
    process = client._server  # pygls keeps the subprocess here; its stderr must be drained
    drain = asyncio.create_task(_drain(process.stderr))
    root = Path(args.corpus).resolve().as_uri()
    await client.initialize_async(
        types.InitializeParams(
            types.ClientCapabilities(),
            root_uri=root,
            process_id=None,
            initialization_options=options,
        )
    )
    report.init_ms = (time.perf_counter() - start) * 1000
    client.initialized(types.InitializedParams())
    session = Session(client)
    try:
        await _warm_up(session)
        await _typing(session, texts, args, report)
        await _file_sizes(session, texts, args, report)
        await _pastes(session, texts, report)
        await _paced_typing(session, texts, args.paced_chars, report)
        for i, text in enumerate((texts * args.open_documents)[: args.open_documents]):
            uri = f"file:///bench/open_{i}.py"
            session.open(uri, text)
            await session.complete_ms(uri)
        report.peak_rss_mb = _peak_rss_mb(process.pid)
        report.children_rss_mb = _children_peak_rss_mb(process.pid)
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
        drain.cancel()
    return report


async def _drain(stream: asyncio.StreamReader | None) -> None:
    while stream is not None and await stream.read(65536):
        pass


async def _warm_up(session: Session) -> None:
    text = "import os\n\nos."
    session.open("file:///bench/warmup.py", text)
    for _ in range(3):
        await session.complete_ms("file:///bench/warmup.py")


async def _typing(session: Session, texts: list[str], args, report: Report) -> None:
    rng = random.Random(args.seed)
    per_file = max(1, args.queries // len(texts))
    for i, text in enumerate(texts):
        uri = f"file:///bench/typing_{i}.py"
        spots = [m.start() + 1 for m in QUERY_AT.finditer(text)]
        cursors = sorted(rng.sample(spots, min(per_file, len(spots))))
        session.open(uri, "")
        typed = ""
        for cursor in cursors:
            session.append(uri, text[len(typed) : cursor])
            typed = text[:cursor]
            try:
                report.typing_ms.append(await session.complete_ms(uri))
            except Exception:  # an error answer counts, and the run goes on
                report.errors += 1
        session.client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
        )


async def _file_sizes(session: Session, texts: list[str], args, report: Report) -> None:
    opened = lines_of(texts, args.open_lines)
    session.open("file:///bench/opened.py", opened)
    report.first_after_open_ms = await session.complete_ms("file:///bench/opened.py")
    uris = {lines: f"file:///bench/size_{lines}.py" for lines in args.sizes}
    times: dict[int, list[float]] = {lines: [] for lines in args.sizes}
    for lines, uri in uris.items():
        session.open(uri, lines_of(texts, lines))
        await session.complete_ms(uri)  # the first prefill is not what is compared
    # The sizes take turns, keystroke by keystroke, so the machine's noise falls on both alike.
    for ch in TYPED_LINE * TYPED_LINE_REPEATS:
        for lines, uri in uris.items():
            session.append(uri, ch)
            times[lines].append(await session.complete_ms(uri))
    for lines in args.sizes:
        report.keystroke_ms[lines] = statistics.median(times[lines])


async def _pastes(session: Session, texts: list[str], report: Report) -> None:
    for pause in PASTE_PAUSES_S:
        report.after_paste_ms[pause] = []
        for i, text in enumerate(texts):
            lines = text.splitlines(keepends=True)
            if len(lines) <= 2 * PASTE_LINES or not lines[2 * PASTE_LINES].strip():
                continue
            uri = f"file:///bench/paste_{pause}_{i}.py"
            session.open(uri, "".join(lines[:PASTE_LINES]))
            await session.complete_ms(uri)  # typing there: its state is read
            session.append(uri, "".join(lines[PASTE_LINES : 2 * PASTE_LINES]))
            await asyncio.sleep(pause)
            following = lines[2 * PASTE_LINES]
            indent = len(following) - len(following.lstrip())
            session.append(uri, following[: indent + 1])  # an editor indents; one key typed
            report.after_paste_ms[pause].append(await session.complete_ms(uri))


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _children_peak_rss_mb(pid: int) -> float:
    total = 0.0
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            total += _peak_rss_mb(int(child))
        except OSError:  # it exited meanwhile
            continue
    return total


async def _paced_typing(session: Session, texts: list[str], chars: int, report: Report) -> None:
    long_enough = [t for t in texts if len(t) > 2 * chars][:PACED_FILES]
    for i, text in enumerate(long_enough):
        uri = f"file:///bench/paced_{i}.py"
        start = sum(map(len, text.splitlines(keepends=True)[:PACED_START_LINES]))
        session.open(uri, text[:start])
        await session.complete_ms(uri)
        for at in range(start, start + chars, PACED_PIECE):
            await asyncio.sleep(PACED_PAUSE_S)
            session.append(uri, text[at : at + PACED_PIECE])
            report.paced_ms.append(await session.complete_ms(uri))


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def rows(report: Report, args: argparse.Namespace) -> dict[str, float]:
    (few, many), documents = args.sizes, args.open_documents
    small, big = report.keystroke_ms.get(few, float("nan")), report.keystroke_ms.get(many)
    return {
        "spawn -> initialize (ms)": report.init_ms,
        "completion p50 (ms)": percentile(report.typing_ms, 0.5),
        "completion p99 (ms)": percentile(report.typing_ms, 0.99),
        f"first completion, {args.open_lines:,}-line file opened (ms)": report.first_after_open_ms,
        f"keystroke p50, {few:,}-line file (ms)": small,
        f"keystroke p50, {many:,}-line file (ms)": big,
        f"{many:,} / {few:,} lines": big / small,
        **{
            f"first keystroke after a {PASTE_LINES}-line paste, {pause} s pause, p50 (ms)": (
                percentile(times, 0.5)
            )
            for pause, times in report.after_paste_ms.items()
        },
        f"paced typing, {PACED_PIECE} characters then {PACED_PAUSE_S} s, p50 (ms)": percentile(
            report.paced_ms, 0.5
        ),
        "paced typing, p99 (ms)": percentile(report.paced_ms, 0.99),
        "paced typing, max (ms)": max(report.paced_ms, default=float("nan")),
        f"peak RSS, {documents} documents open (MB)": report.peak_rss_mb,
        "peak RSS of child processes (MB)": report.children_rss_mb,
        "errors": report.errors,
    }


def print_table(reports: list[Report], args: argparse.Namespace) -> None:
    table = [rows(r, args) for r in reports]
    header = ["", *(r.name for r in reports)] + (["ours / reference"] if len(reports) > 1 else [])
    print(" | ".join(header))
    for key in table[0]:
        cells = [key, *(f"{t[key]:.2f}" if "/" in key else f"{t[key]:.1f}" for t in table)]
        if len(table) > 1:
            ratio = table[0][key] / table[1][key] if table[1][key] else float("nan")
            cells.append(f"{ratio:.2f}x")
        print(" | ".join(cells))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True, help="held-out Python files (not trained on)")
    p.add_argument("--server", default="grucomplete serve", help="our server's command line")
    p.add_argument("--init-options", type=json.loads, help="our server's settings, as JSON")
    p.add_argument("--reference", default="jedi-language-server", help="'' for none")
    p.add_argument("--files", type=int, default=20)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--open-lines", type=int, default=5_000, help="file opened cold")
    p.add_argument(
        "--sizes",
        type=lambda v: tuple(int(n) for n in v.split(",")),
        default=(200, 20_000),
        help="two file lengths in lines, typed at the end of",
    )
    p.add_argument("--open-documents", type=int, default=50)
    p.add_argument("--paced-chars", type=int, default=2_000, help="typed at a pace, per file")
    args = p.parse_args(argv)
    logging.getLogger("pygls").setLevel(logging.ERROR)  # not every notification has a handler
    texts = python_files(Path(args.corpus), args.files, args.seed)
    if not texts:
        p.error(f"no Python files of 2-200 KB under {args.corpus}")
    servers = [("grucomplete", args.server, args.init_options)]
    if args.reference and shutil.which(shlex.split(args.reference)[0]):
        servers.append((shlex.split(args.reference)[0], args.reference, None))
    elif args.reference:
        print(f"reference {args.reference!r} not found; measuring ours alone", file=sys.stderr)
    reports = [asyncio.run(measure(name, cmd, texts, args, opt)) for name, cmd, opt in servers]
    print_table(reports, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
