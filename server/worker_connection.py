"""The static-analysis worker process, from the server's side: each question a future.

Questions go out on a thread of their own (a document larger than the pipe's buffer blocks the
write until the worker reads it) and answers come in on another, which resolves each question's
future; a worker that dies is restarted for the next question, up to MAX_RESTARTS times, and
every question it had is answered None. The protocol is `static_worker`'s.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future
from typing import IO, Any

log = logging.getLogger("grucomplete.server")

# Restarts allowed after the worker dies; past them static analysis stays off (a worker that
# keeps dying would otherwise cost a process start per keystroke).
MAX_RESTARTS = 3
RECENT_ANSWERS = 20  # answers whose outcome the status report counts

Names = list[str] | None  # None: no answer (error, skipped, worker gone)


class WorkerConnection:
    """One jedi worker process for one workspace folder (`root`) and Python (`python`)."""

    def __init__(self, root: str | None, python: str = "") -> None:
        self.root, self.python = root, python
        self.disabled: str | None = None  # why static analysis is off for good
        self._process: subprocess.Popen[str] | None = None
        self._waiting: dict[int, Future[Names]] = {}
        self._outbox: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._restarts = 0
        # What `status()` reports: whether each recent answer was an error, and the last error.
        self._recent: deque[bool] = deque(maxlen=RECENT_ANSWERS)
        self.last_error: str | None = None
        self._ready = False  # the worker has imported jedi

    def status(self) -> dict[str, Any]:
        """Where static analysis stands, for `:checkhealth` and the VS Code status bar:
        `state` is "off" (with `reason`), "starting", "failing" (the last two answers, or all
        there were, were errors: `reason` says which) or "ok"; `failed` of the last `answers`
        answers were errors."""
        failed, answers = sum(self._recent), len(self._recent)
        report: dict[str, Any] = {"failed": failed, "answers": answers}
        if self.disabled:
            return {"state": "off", "reason": self.disabled, **report}
        streak = 0  # the answers that failed since the last one that did not
        for answer_failed in reversed(self._recent):
            if not answer_failed:
                break
            streak += 1
        # jedi fails now and then on half-typed code: one error after answers is not failing.
        if streak >= 2 or (streak and streak == answers):
            return {"state": "failing", "reason": self.last_error, **report}
        if not self._ready:
            return {"state": "starting", **report}
        if failed:
            report["lastError"] = self.last_error
        return {"state": "ok", **report}

    def start(self) -> None:
        """Start the worker now (it imports jedi in the background)."""
        with self._lock:
            self._ensure_process()

    @property
    def busy(self) -> bool:
        """Whether the worker has a question to answer (it is using a core)."""
        return bool(self._waiting)

    def send(self, future: Future[Names], request: dict[str, Any]) -> None:
        """Ask the worker `request`; its answer's names (None: none) resolve `future`."""
        request.update(root=self.root, python=self.python or None)
        with self._lock:
            process = self._ensure_process()
            if process is None:
                future.set_result(None)
                return
            request["id"] = next(self._ids)
            self._waiting[request["id"]] = future
            self._outbox.put(request)

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            self.disabled = self.disabled or "closed"
        self._outbox.put(None)
        if process is not None:
            process.kill()
            process.wait()

    def _ensure_process(self) -> subprocess.Popen[str] | None:
        """The running worker, started or restarted if needed (call with the lock held)."""
        if self.disabled:
            return None
        if self._process is not None and self._process.poll() is None:
            return self._process
        if self._process is not None:
            self._restarts += 1
            if self._restarts > MAX_RESTARTS:
                self._disable(f"its worker exited {self._restarts} times")
                return None
        env = {**os.environ, "PYTHONSAFEPATH": "1"}  # no workspace file shadows a module
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "grucomplete.server.static_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=env,
                cwd=self.root if self.root and os.path.isdir(self.root) else None,
            )
        except OSError as e:
            self._disable(f"cannot start its worker: {e}")
            return None
        assert self._process.stdout is not None
        # Each worker answers only its own requests: a dead one's reader must not resolve
        # what its successor was asked.
        self._waiting, self._outbox = {}, queue.SimpleQueue()
        threading.Thread(
            target=self._read_answers,
            args=(self._process, self._process.stdout, self._waiting),
            name="grucomplete-static",
            daemon=True,
        ).start()
        threading.Thread(
            target=self._write_requests,
            args=(self._process, self._outbox, self._waiting),
            name="grucomplete-static-requests",
            daemon=True,
        ).start()
        return self._process

    def _write_requests(
        self,
        process: subprocess.Popen[str],
        outbox: queue.SimpleQueue[dict[str, Any] | None],
        waiting: dict[int, Future[Names]],
    ) -> None:
        """Hands the worker its requests, off the event loop: a document larger than the
        pipe's buffer blocks the write until the worker reads it, and a worker busy in jedi
        reads slowly (the event loop stood still for 233 ms on a 69 KB file)."""
        assert process.stdin is not None
        while (request := outbox.get()) is not None:
            try:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
            except (OSError, ValueError):  # the worker is gone: nothing more reaches it
                break
        # What it was not given will not be answered (the next request starts a new worker).
        while request is not None:
            with self._lock:
                future = waiting.pop(request["id"], None)
            if future is not None and not future.done():
                future.set_result(None)
            try:
                request = outbox.get_nowait()
            except queue.Empty:
                request = None

    def _read_answers(
        self,
        process: subprocess.Popen[str],
        stdout: IO[str],
        waiting: dict[int, Future[Names]],
    ) -> None:
        for line in stdout:
            try:
                answer: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError:
                continue
            if answer.get("id") is None:  # the worker's own news: ready, or jedi missing
                if "error" in answer:
                    with self._lock:
                        self._disable(answer["error"] + "; pip install 'grucomplete[static]'")
                elif "warning" in answer:
                    log.warning("static analysis: %s", answer["warning"])
                    self._failed(answer["warning"])
                self._ready = self._ready or bool(answer.get("ready"))
                continue
            with self._lock:
                future = waiting.pop(answer["id"], None)
            if answer.get("environment"):
                with self._lock:
                    self._disable(f"staticPython {self.python!r}: {answer['error']}")
            if "error" in answer:
                log.debug("static analysis: %s", answer["error"])
                self._failed(answer["error"])
            elif not answer.get("skipped") and "module" not in answer:
                self._recent.append(False)
            if future is not None:
                future.set_result(answer.get("names"))
        with self._lock:  # the worker is gone: nothing it had will be answered
            unanswered = list(waiting.values())
            waiting.clear()
        for future in unanswered:
            future.set_result(None)
        process.wait()

    def _failed(self, error: str) -> None:
        if error != self.last_error or not (self._recent and self._recent[-1]):
            log.warning("static analysis failed: %s", error)  # once per run of one error
        self.last_error = error
        self._recent.append(True)

    def _disable(self, why: str) -> None:
        if not self.disabled:
            self.disabled = why
            log.warning("static analysis is off: %s", why)
