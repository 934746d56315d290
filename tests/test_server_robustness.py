"""The language server under abuse: bad frames, bad params, odd text, lifecycle, sockets.

Every test drives a real `grucomplete serve` subprocess with the tiny test model, through
`raw_lsp.RawServer`, which can send any bytes and sees every reply. What each test asserts is
what an editor would notice: a request that is never answered hangs the editor, an error where
a result was due breaks completion, a server that dies is a server the user restarts. (Size
and load: `test_server_load.py`.)
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from .fuzz_jsonrpc import FUZZ_EXAMPLES, check_answered, fuzz_messages
from .network_guard import attempts, guarded_env
from .raw_lsp import SERVER, RawServer
from .test_server_lsp import MAIN

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602

DOC = "file:///tmp/grucomplete-robust/main.py"


def top_label(reply: dict) -> str:
    assert "error" not in reply, reply
    items = sorted(reply["result"]["items"], key=lambda item: item["sortText"])
    return items[0]["label"] if items else ""


def error_code(reply: dict) -> int | None:
    return reply.get("error", {}).get("code")


@pytest.fixture(scope="module")
def wire(tiny_model_dir: Path) -> Iterator[RawServer]:
    """One initialized server for the wire-level tests, with MAIN open as DOC."""
    server = RawServer()
    server.initialize(tiny_model_dir)
    server.open(DOC, MAIN)
    assert top_label(server.wait(server.completion(DOC, 5, 14), 30)).startswith("path")
    yield server
    server.close()


def assert_still_serving(server: RawServer) -> None:
    assert server.proc.poll() is None, "the server died"
    assert top_label(server.wait(server.completion(DOC, 5, 14))).startswith("path")


# --- malformed messages ----------------------------------------------------------------------


def test_malformed_frames_get_error_replies_and_the_next_request_works(wire: RawServer) -> None:
    before = len(wire.null_id_errors)
    unreadable = [b'{"jsonrpc": "2.0", "id": 5, "meth', b"not json at all", b"\xff\xfe\xfa{}"]
    not_requests = [b"[1, 2, 3]", b"[]", b'"a string"', b"7", b"null", b'{"jsonrpc": "2.0"}']
    for body in unreadable + not_requests + [b""]:  # an empty body is skipped by the reader
        wire.write_frame(body)
    wire.send({"jsonrpc": "2.0", "id": 90003, "method": 123})
    wire.send({"jsonrpc": "2.0", "id": 90004, "method": "textDocument/completion", "params": 7})
    wire.send({"jsonrpc": "2.0", "id": [1], "method": "textDocument/completion"})
    assert error_code(wire.wait(90003)) == INVALID_REQUEST
    assert error_code(wire.wait(90004)) == INVALID_PARAMS
    assert_still_serving(wire)
    codes = [error_code(m) for m in wire.wait_null_id_errors(before + 10)[before:]]
    assert codes.count(PARSE_ERROR) == len(unreadable)
    assert codes.count(INVALID_REQUEST) == len(not_requests) + 1  # + the list-valued id


def test_unknown_methods_get_method_not_found_and_unknown_notifications_are_ignored(
    wire: RawServer,
) -> None:
    before = (len(wire.null_id_errors), len(wire.replies))
    assert error_code(wire.call("abuse/unknownMethod", {})) == METHOD_NOT_FOUND
    assert error_code(wire.call("$/abuseUnknownRequest")) == METHOD_NOT_FOUND
    for method in ("abuse/note", "$/abuseNote", "textDocument/didSomethingNew"):
        wire.notify(method, {"x": 1})
    assert error_code(wire.call("abuse/again", [1, 2])) == METHOD_NOT_FOUND
    # The three requests were answered; the notifications got nothing back.
    assert (len(wire.null_id_errors), len(wire.replies)) == (before[0], before[1] + 3)
    assert_still_serving(wire)


BAD_PARAMS = {
    "position as a string": {"textDocument": {"uri": DOC}, "position": "5:14"},
    "position fields as strings": {
        "textDocument": {"uri": DOC},
        "position": {"line": "five", "character": "x"},
    },
    "textDocument as a string": {"textDocument": DOC, "position": {"line": 5, "character": 14}},
    "no textDocument": {"position": {"line": 5, "character": 14}},
    "negative line": {"textDocument": {"uri": DOC}, "position": {"line": -1, "character": 0}},
    "negative character": {"textDocument": {"uri": DOC}, "position": {"line": 0, "character": -5}},
    "line 2^31": {"textDocument": {"uri": DOC}, "position": {"line": 2**31, "character": 0}},
    "character 2^53": {"textDocument": {"uri": DOC}, "position": {"line": 0, "character": 2**53}},
    "params null": None,
    "params a list": [],
    "params a number": 7,
}


@pytest.mark.parametrize("shape", [*BAD_PARAMS, "params left out"])
def test_params_of_the_wrong_type_get_invalid_params(wire: RawServer, shape: str) -> None:
    if shape == "params left out":
        reply = wire.call("textDocument/completion")
    else:
        reply = wire.call("textDocument/completion", BAD_PARAMS[shape])
    assert error_code(reply) == INVALID_PARAMS, reply
    assert_still_serving(wire)


def test_out_of_range_positions_and_unknown_documents_get_empty_results(wire: RawServer) -> None:
    positions = [(10**6, 0), (0, 10**6), (0, 10), (6, 0), (2**31 - 1, 2**31 - 1)]
    for line, character in positions:
        assert top_label(wire.wait(wire.completion(DOC, line, character))) == ""
    for uri in ("file:///nowhere/missing.py", "untitled:Untitled-1", "not a uri at all", ""):
        assert top_label(wire.wait(wire.completion(uri, 0, 0))) == ""
    wire.notify("textDocument/didClose", {"textDocument": {"uri": "file:///never/opened.py"}})
    assert_still_serving(wire)


def test_a_column_inside_a_surrogate_pair_snaps_to_the_character_start(wire: RawServer) -> None:
    uri = "file:///tmp/grucomplete-robust/emoji.py"
    wire.open(uri, "import os\ns = '😀😀'\n")
    start = len("s = '")  # the first emoji takes UTF-16 columns 5 and 6
    inside = wire.wait(wire.completion(uri, 1, start + 1))
    assert "error" not in inside
    assert inside["result"] == wire.wait(wire.completion(uri, 1, start))["result"]
    assert_still_serving(wire)


def test_odd_did_change_notifications_never_break_the_document(wire: RawServer) -> None:
    uri = "file:///tmp/grucomplete-robust/edited.py"
    text = "import os\nimport sys\n\n\ndef main():\n    path = os.pa"
    wire.open(uri, text, version=5)

    def change(version: int, changes: object, target: str = uri) -> None:
        wire.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": target, "version": version}, "contentChanges": changes},
        )

    def edit(start: tuple[int, int], end: tuple[int, int], new: str) -> dict:
        return {
            "range": {
                "start": {"line": start[0], "character": start[1]},
                "end": {"line": end[0], "character": end[1]},
            },
            "text": new,
        }

    change(2, [edit((0, 0), (0, 0), "x = 1\n")], target="file:///tmp/never-opened.py")
    change(6, [edit((5, 16), (5, 14), "")])  # end before start: an insertion at the start
    change(3, [edit((5, 16), (5, 16), "")])  # the version goes backwards
    change(7, [edit((999, 0), (1000, 5), "")])  # past the end of the document
    change(8, "not a list")
    wire.notify("textDocument/didChange", {"textDocument": {"uri": uri}})
    assert top_label(wire.wait(wire.completion(uri, 5, 16))).startswith("path")
    assert_still_serving(wire)


def test_nul_bytes_and_lone_surrogates_in_the_text_get_real_completions(wire: RawServer) -> None:
    uri = "file:///tmp/grucomplete-robust/odd-text.py"
    # json.dumps writes the lone surrogates as \\ud800 escapes, as an editor would.
    text = 'import os\nx = "a\x00b"  # \ud800 \udc00\n\x00\x00\n\ndef main():\n    path = os.pa'
    wire.open(uri, text)
    assert top_label(wire.wait(wire.completion(uri, 5, 16))).startswith("path")
    cut = "import os\nbad = '\udfff'\n\ndef main():\n    path = os.pa"
    wire.open(uri, cut, version=2)  # reopened: the lone surrogate now sits before the cursor
    reply = wire.wait(wire.completion(uri, 4, 16))
    assert top_label(reply).startswith("path")
    assert_still_serving(wire)


def test_requests_before_initialize_are_refused_not_dropped(tiny_model_dir: Path) -> None:
    server = RawServer()
    try:
        reply = server.call("textDocument/completion", {"textDocument": {"uri": DOC}})
        assert error_code(reply) == -32002  # ServerNotInitialized
        server.initialize(tiny_model_dir)
        server.open(DOC, MAIN)
        assert top_label(server.wait(server.completion(DOC, 5, 14), 30)).startswith("path")
    finally:
        server.close()


# --- fuzzing the JSON-RPC surface -------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed(tiny_model_dir: Path) -> Iterator[RawServer]:
    server = RawServer()
    server.initialize(tiny_model_dir)
    server.open(DOC, MAIN)
    yield server
    server.close()


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,  # each example bounds itself: check_answered waits at most 10 s
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(messages=fuzz_messages())
def test_fuzzed_requests_are_all_answered(fuzzed: RawServer, messages: list[dict]) -> None:
    check_answered(fuzzed, messages)


def test_the_server_is_healthy_after_fuzzing(fuzzed: RawServer, tiny_model_dir: Path) -> None:
    # Fuzzed settings may have pointed the server at a bogus model: set the real one again.
    fuzzed.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"grucomplete": {"model": str(tiny_model_dir), "precision": "fp32"}}},
    )
    fuzzed.open(DOC, MAIN)
    for _ in range(100):
        if top_label(fuzzed.wait(fuzzed.completion(DOC, 5, 14))).startswith("path"):
            break
        time.sleep(0.1)
    assert top_label(fuzzed.wait(fuzzed.completion(DOC, 5, 14))).startswith("path")
    assert not fuzzed.null_id_errors  # every fuzzed message was a well-formed envelope


# --- lifecycle ---------------------------------------------------------------------------------


def test_after_shutdown_requests_get_invalid_request_and_exit_returns_0(
    tiny_model_dir: Path,
) -> None:
    server = RawServer()
    try:
        server.initialize(tiny_model_dir)
        server.open(DOC, MAIN)
        assert top_label(server.wait(server.completion(DOC, 5, 14), 30)).startswith("path")
        shutdown = server.call("shutdown")
        assert "result" in shutdown and shutdown["result"] is None
        assert error_code(server.wait(server.completion(DOC, 5, 14))) == INVALID_REQUEST
        assert error_code(server.call("abuse/unknown")) == INVALID_REQUEST
        server.notify("textDocument/didClose", {"textDocument": {"uri": DOC}})  # ignored
        server.notify("exit")
        assert server.exit_code(timeout=5) == 0
    finally:
        server.close()


def test_exit_without_shutdown_returns_1(tiny_model_dir: Path) -> None:
    server = RawServer()
    try:
        server.initialize(tiny_model_dir)
        server.notify("exit")
        assert server.exit_code(timeout=5) == 1
    finally:
        server.close()


def test_an_exception_in_a_handler_or_the_worker_is_answered_and_the_server_lives(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # A fault injected in the subprocess (a sitecustomize on PYTHONPATH), so the real error
    # paths run: the handler on the event loop, and the model worker for a request and for a
    # notification (didOpen's prefill).
    (tmp_path / "sitecustomize.py").write_text(
        "from grucomplete.server import document_sessions, language_server\n"
        "_session, _before = document_sessions.DocumentSessions.open, "
        "language_server.GruCompleteServer.text_before\n"
        "def _bad_session(self, uri):\n"
        "    if 'worker-fault' in uri:\n"
        "        raise RuntimeError('injected worker fault')\n"
        "    return _session(self, uri)\n"
        "def _bad_before(self, uri, position):\n"
        "    if 'handler-fault' in uri:\n"
        "        raise RuntimeError('injected handler fault')\n"
        "    return _before(self, uri, position)\n"
        "document_sessions.DocumentSessions.open = _bad_session\n"
        "language_server.GruCompleteServer.text_before = _bad_before\n"
    )
    server = RawServer(env={"PYTHONPATH": str(tmp_path)})
    try:
        server.initialize(tiny_model_dir)
        for uri in ("file:///tmp/worker-fault.py", "file:///tmp/handler-fault.py"):
            server.open(uri, MAIN)
            reply = server.wait(server.completion(uri, 5, 14), 30)
            assert error_code(reply) == -32603, reply  # InternalError, answered
        server.open(DOC, MAIN)
        assert top_label(server.wait(server.completion(DOC, 5, 14), 30)).startswith("path")
    finally:
        server.close()


# --- sockets -----------------------------------------------------------------------------------


def test_tcp_mode_listens_on_loopback_only_by_default(tiny_model_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [*SERVER, "--tcp", "0", "--log-file", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            text = log.read_text() if log.exists() else ""
            if "Serving on" in text:
                break
            time.sleep(0.05)
        line = next(ln for ln in text.splitlines() if "Serving on" in ln)
        host, port = eval(line.split("Serving on ", 1)[1])  # pygls logs the sockname tuple
        assert host == "127.0.0.1"
        with socket.create_connection((host, port), timeout=5) as conn:  # and it does listen
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "shutdown"}).encode()
            conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            assert b"-32002" in conn.recv(4096)  # answered: not initialized
    finally:
        proc.kill()
        proc.wait()


def test_a_bad_tcp_address_is_refused() -> None:
    done = subprocess.run([*SERVER, "--tcp", "localhost:http"], capture_output=True, text=True)
    assert done.returncode == 2 and "bad --tcp" in done.stderr


def test_serving_and_completing_open_no_network_connection(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    env = guarded_env(tmp_path / "guard")
    server = RawServer(env=env)
    try:
        server.initialize(tiny_model_dir)
        server.open(DOC, MAIN)
        assert top_label(server.wait(server.completion(DOC, 5, 14), 30)).startswith("path")
    finally:
        server.close()
    source = tmp_path / "main.py"
    source.write_text(MAIN)
    done = subprocess.run(
        [sys.executable, "-m", "grucomplete.training", "complete", f"{source}:6:15"]
        + ["--model", str(tiny_model_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "path" in done.stdout
    assert attempts(env) == []
