"""stdin read by the event loop (`server/stdio.py`): which streams, and frames in any pieces."""

from __future__ import annotations

import io
import json
import os
import socket
import time
from pathlib import Path

import pytest
from pygls.lsp.server import LanguageServer

from grucomplete.server import stdio
from grucomplete.server.language_server import GruCompleteServer
from grucomplete.server.stdio import watchable

from .raw_lsp import RawServer


def test_a_pipe_or_a_socket_of_its_own_is_read_on_the_loop(tmp_path: Path) -> None:
    into, _ = os.pipe()
    _, out_of = os.pipe()  # an editor's child: two pipes
    with open(into, "rb") as stdin, open(out_of, "wb") as stdout:
        assert watchable(stdin, stdout)
        with open(into, "rb", closefd=False) as same_pipe:  # one pipe both ways: not on the loop
            assert not watchable(stdin, same_pipe)
    left, right = socket.socketpair()
    with left, right, left.makefile("rb") as stdin, right.makefile("wb") as stdout:
        assert watchable(stdin, stdout)
        with left.makefile("wb") as same_socket:  # stdin and stdout one socket: not on the loop
            assert not watchable(stdin, same_socket)
    file = tmp_path / "frames"
    file.write_bytes(b"")
    with file.open("rb") as stdin, file.open("ab") as stdout:
        assert not watchable(stdin, stdout)  # a file: pygls's own reader
    assert not watchable(io.BytesIO(), io.BytesIO())  # no file descriptor


def _pieces(body: bytes) -> list[bytes]:
    frame = b"Content-Length: %d\r\n\r\n" % len(body) + body
    return [frame[:7], frame[7:19], frame[19:23], frame[23:40], frame[40:]]


def test_frames_written_in_pieces_are_read_whole(tiny_model_dir: Path) -> None:
    server = RawServer()
    try:
        server.initialize(tiny_model_dir)
        assert server.proc.stdin is not None
        where = {
            "textDocument": {"uri": "file:///nowhere.py"},
            "position": {"line": 0, "character": 0},
        }
        for msg_id in (101, 102):
            message = {"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/completion"}
            body = json.dumps({**message, "params": where}).encode()
            for piece in _pieces(body):
                server.proc.stdin.write(piece)
                server.proc.stdin.flush()
                time.sleep(0.02)  # each piece its own read on the server's side
        for msg_id in (101, 102):
            assert server.wait(msg_id)["result"]["items"] == []
    finally:
        server.close()


def test_a_body_cut_short_by_the_end_of_the_stream_ends_the_server_quietly(
    tiny_model_dir: Path,
) -> None:
    server = RawServer()
    try:
        server.initialize(tiny_model_dir)
        assert server.proc.stdin is not None
        server.proc.stdin.write(b'Content-Length: 500\r\n\r\n{"jsonrpc": "2.0", "id": 9')
        server.proc.stdin.close()  # the editor went away mid-frame
        assert server.exit_code(timeout=30) == 1  # ended without `shutdown`, as the spec says
        stderr = b"".join(server.stderr_tail)  # the short body's JSON error, logged, and no more
        assert b"JSONDecodeError" in stderr and b"IncompleteReadError" not in stderr
    finally:
        server.close()


def test_the_server_reads_a_pipe_on_its_loop_and_other_streams_as_pygls_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[str] = []
    monkeypatch.setattr(stdio, "serve", lambda server, stdin, stdout: served.append("loop"))
    monkeypatch.setattr(LanguageServer, "start_io", lambda self, i, o: served.append("pygls"))
    server = GruCompleteServer()
    into, _ = os.pipe()
    _, out_of = os.pipe()
    with open(into, "rb") as stdin, open(out_of, "wb") as stdout:
        server.start_io(stdin, stdout)
    server.start_io(io.BytesIO(), io.BytesIO())
    assert served == ["loop", "pygls"]
