"""The language server under size and load: huge documents, rapid edits, concurrent requests,
hundreds of documents opened and closed. Each drives a real `grucomplete serve` subprocess
with pytest-lsp, like `test_server_lsp.py`, and asserts what an editor would notice: every
request answered in bounded time, the document in sync, memory given back after closes.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import LanguageClient

from .test_server_lsp import MAIN, URI, complete, labels, open_doc, start


def _generated_module(size: int) -> str:
    block = (
        "\n\nclass Record{i}:\n    def __init__(self, name, quantity=0):\n"
        "        self.name = name\n        self.quantity = quantity\n\n"
        "    def total(self, price):\n        return round(self.quantity * price, 2)\n\n\n"
        "def load_records_{i}(path):\n    records = []\n    for line in open(path):\n"
        "        records.append(Record{i}(*line.split(',')))\n    return records\n"
    )
    parts, length, i = ["import os\nimport sys\n"], 0, 0
    while length < size:
        parts.append(block.format(i=i))
        length += len(parts[-1])
        i += 1
    return "".join(parts)


async def _first_completion_seconds(
    client: LanguageClient, text: str, line: int, col: int, limit_s: float
) -> tuple[float, types.CompletionList]:
    uri = "file:///tmp/grucomplete-robust/huge.py"
    began = time.monotonic()
    open_doc(client, text, uri)
    try:
        result = await asyncio.wait_for(complete(client, line, col, uri), limit_s)
    except asyncio.TimeoutError:
        pytest.fail(f"the first completion was not answered within {limit_s} s")
    return time.monotonic() - began, result


def _vm_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.mark.parametrize(
    "shape",
    [
        "one 200,000-character line",
        "a 5 MB file",
    ],
)
async def test_huge_documents_are_answered_in_bounded_time_and_memory(
    tiny_model_dir: Path, shape: str
) -> None:
    client = await start(tiny_model_dir)
    try:
        pid = client._server.pid
        open_doc(client, MAIN)
        assert labels(await complete(client, 5, 14))[0].startswith("path")
        base_kb = _vm_kb(pid, "VmRSS")
        if shape.startswith("one"):
            head, tail = "values = [", "]; values.ap"
            body = "".join(f"{i % 1000}, " for i in range(60_000))
            text = head + body[: 200_000 - len(head) - len(tail)] + tail
            line, col = 0, len(text)
        else:
            text = _generated_module(5 * 1024 * 1024) + "\nrecord = Record0('a', 1)\nrecord."
            line, col = text.count("\n"), len("record.")
        seconds, result = await _first_completion_seconds(client, text, line, col, 5.0)
        peak_mb = (_vm_kb(pid, "VmHWM") - base_kb) / 1024
        assert isinstance(result, types.CompletionList)
        assert peak_mb < 500, f"memory grew by {peak_mb:.0f} MB"
        assert labels(await complete(client, 5, 14))[0].startswith("path")  # still serving
    finally:
        await client.shutdown_session()


async def test_rapid_edits_with_cancelled_completions_end_in_sync(tiny_model_dir: Path) -> None:
    client = await start(tiny_model_dir)
    try:
        target = MAIN + "path.join(root, name)\n    print(path)\n" * 60
        target = target[:2000]
        open_doc(client, "")
        line = col = 0
        pending: list[tuple[str, asyncio.Future]] = []
        for i, ch in enumerate(target, 1):
            here = types.Position(line, col)
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(version=i + 1, uri=URI),
                    [
                        types.TextDocumentContentChangePartial(
                            range=types.Range(here, here), text=ch
                        )
                    ],
                )
            )
            line, col = (line + 1, 0) if ch == "\n" else (line, col + 1)
            if i % 20 == 0:
                if pending:  # the editor cancels the stale request before asking again
                    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(pending[-1][0]))
                params = types.CompletionParams(
                    types.TextDocumentIdentifier(URI), types.Position(line, col)
                )
                msg_id = f"edit-{i}"
                future = client.protocol.send_request(
                    types.TEXT_DOCUMENT_COMPLETION, params, msg_id=msg_id
                )
                pending.append((msg_id, asyncio.wrap_future(future)))
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(f for _, f in pending), return_exceptions=True), 60
        )
        assert len(outcomes) == 100
        for outcome in outcomes[:-1]:  # each answered: a result, or RequestCancelled
            assert isinstance(outcome, (types.CompletionList, JsonRpcRequestCancelled)), outcome
        assert isinstance(outcomes[-1], types.CompletionList)
        # The server's copy of the document is exactly what was typed.
        text_lines = target.split("\n")
        result = await complete(client, len(text_lines) - 1, len(text_lines[-1]))
        assert isinstance(result, types.CompletionList)
        assert labels(await complete(client, 5, 14))[0].startswith("path")
    finally:
        await client.shutdown_session()


async def test_fifty_concurrent_completions_are_all_answered_once(tiny_model_dir: Path) -> None:
    client = await start(tiny_model_dir)
    try:
        open_doc(client, MAIN)
        params = types.CompletionParams(types.TextDocumentIdentifier(URI), types.Position(5, 14))
        ids = [i if i % 2 else f"s{i}" for i in range(50)]  # integer and string ids
        futures = [
            asyncio.wrap_future(
                client.protocol.send_request(types.TEXT_DOCUMENT_COMPLETION, params, msg_id=i)
            )
            for i in ids
        ]
        results = await asyncio.wait_for(asyncio.gather(*futures), 60)
        assert all(isinstance(r, types.CompletionList) for r in results)
        # Each new request superseded the one before; the last one computed its answer.
        assert labels(results[-1])[0].startswith("path")
    finally:
        await client.shutdown_session()


async def test_memory_returns_near_the_baseline_after_300_documents_close(
    tiny_model_dir: Path,
) -> None:
    # Every open document keeps its session (the default keeps the last 50), so that open
    # documents cost memory worth measuring even with the tiny model.
    client = await start(tiny_model_dir, cache={"maxDocuments": 400})

    async def open_complete_close(count: int, tag: str) -> int:
        """Open and complete `count` documents; the RSS with all of them open, in kB."""
        uris = [f"file:///tmp/grucomplete-robust/{tag}/doc_{i:03d}.py" for i in range(count)]
        for i, uri in enumerate(uris):
            text = f"# {tag} {i}\n" + _generated_module(6_000) + MAIN
            open_doc(client, text, uri)
            lines = text.split("\n")
            result = await complete(client, len(lines) - 1, len(lines[-1]), uri)
            assert isinstance(result, types.CompletionList)
        open_kb = _vm_kb(pid, "VmRSS")
        for uri in uris:
            client.text_document_did_close(
                types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
            )
        assert labels(await complete(client, 5, 14))[0].startswith("path")  # all closes read
        await asyncio.sleep(1.5)  # the server releases memory 0.5 s after the last close
        return open_kb

    try:
        pid = client._server.pid
        open_doc(client, MAIN)
        # Warm up first: one-time allocations (the tokenizer's word cache, the model's
        # kernels for each chunk length) are not memory held for closed documents. The
        # documents share their names for the same reason: new words would grow the
        # tokenizer's (bounded) cache, which is not what this test is about.
        await open_complete_close(30, "warm")
        base_kb = _vm_kb(pid, "VmRSS")
        open_kb = await open_complete_close(300, "many")
        closed_kb = _vm_kb(pid, "VmRSS")
        grown, kept = (open_kb - base_kb) / 1024, (closed_kb - base_kb) / 1024
        # Without the release after closes every byte stays (measured: 60 of 60 MB kept);
        # token ids kept as lists of Python ints pinned CPython's arenas (40 of 64 MB kept).
        # What stays besides is the allocators' and caches' (the workspace's and jedi's
        # bounded caches among them): about a third of what 300 small documents grew.
        assert kept <= max(0.4 * grown, 8), f"{kept:.2f} of {grown:.2f} MB kept after closing"
    finally:
        await client.shutdown_session()
