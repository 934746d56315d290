"""A raw JSON-RPC client for robustness tests: it can send any bytes and sees every reply.

pytest-lsp's client only sends well-typed messages and drops replies it did not ask for (an
error with id null, say). This one writes frames as given, reads on a thread, and keeps every
reply by id, so tests can ask "was request 7 answered, and how?" with a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SERVER = [sys.executable, "-m", "grucomplete.training", "serve"]
_MISSING = object()


class NoReply(AssertionError):
    pass


class RawServer:
    """A `grucomplete serve` subprocess spoken to frame by frame."""

    def __init__(self, command: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        merged = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
        self.proc = subprocess.Popen(
            command or SERVER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=merged,
        )
        self.replies: dict[Any, dict[str, Any]] = {}
        self.null_id_errors: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.stderr_tail: list[bytes] = []
        self._changed = threading.Condition()
        self._next_id = 0
        self._write_lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # --- reading ---------------------------------------------------------------------------

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the test closed the pipe
            self._read_frames()

    def _read_frames(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            length = None
            while True:
                line = stdout.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii", "replace").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                continue
            message = json.loads(stdout.read(length))
            with self._changed:
                if "method" in message and "id" in message:  # a request from the server
                    self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                elif "method" in message:
                    self.notifications.append(message)
                elif message.get("id") is None:
                    self.null_id_errors.append(message)
                else:
                    self.replies[message["id"]] = message
                self._changed.notify_all()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail = [*self.stderr_tail[-200:], line]

    def wait(self, msg_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while msg_id not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and msg_id not in self.replies):
                    raise NoReply(f"no reply to request {msg_id!r} within {timeout} s")
                self._changed.wait(min(left, 0.1))
            return self.replies[msg_id]

    def wait_null_id_errors(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.null_id_errors) < count and time.monotonic() < deadline:
                self._changed.wait(0.1)
            return list(self.null_id_errors)

    # --- writing ---------------------------------------------------------------------------

    def write_frame(self, body: bytes) -> None:
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def send(self, message: Any) -> None:
        self.write_frame(json.dumps(message).encode())

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def request(self, method: Any, params: Any = _MISSING, msg_id: Any = None) -> Any:
        """Send a request (params left out when not given); return its id."""
        msg_id = self.new_id() if msg_id is None else msg_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not _MISSING:
            message["params"] = params
        self.send(message)
        return msg_id

    def call(self, method: Any, params: Any = _MISSING, timeout: float = 10.0) -> dict[str, Any]:
        return self.wait(self.request(method, params), timeout)

    def notify(self, method: str, params: Any = _MISSING) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not _MISSING:
            message["params"] = params
        self.send(message)

    # --- LSP conveniences ------------------------------------------------------------------

    def initialize(self, model: Path, **options: Any) -> dict[str, Any]:
        reply = self.call(
            "initialize",
            {
                "processId": None,
                "rootUri": None,
                "capabilities": {},
                "initializationOptions": {
                    "model": str(model),
                    "precision": "fp32",
                    "latencyBudgetMs": 10_000,
                    **options,
                },
            },
            timeout=30,
        )
        self.notify("initialized", {})
        return reply

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": version,
                    "text": text,
                }
            },
        )

    def completion(self, uri: str, line: Any, character: Any) -> Any:
        position = {"line": line, "character": character}
        return self.request(
            "textDocument/completion", {"textDocument": {"uri": uri}, "position": position}
        )

    def rss_kb(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise LookupError(field)

    def exit_code(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("shutdown", timeout=5)
                self.notify("exit")
                self.proc.wait(5)
            except (NoReply, OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
