"""Idle time is used: a document's states are read ahead while the model worker is quiet.

Once the worker has been idle for `idle_s` after the last edit or request, the document
edited last is prepared one slice of `DocumentSession.prepare` at a time: the state where
the last edit ended first (typing goes on there), then a chain of states over every window of
the text (a jump anywhere reads about a chunk). Each slice is queued behind whatever the
worker has, so a request waits for one slice at most, and a request or an edit pushes the
next slice back by `idle_s`. Only one document is prepared; another's prepared states are
dropped when the focus moves.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grucomplete.model.session import DocumentSession

IDLE_S = 0.15  # quiet time after an edit or request before preparing


class IdlePreparation:
    """Schedules `DocumentSession.prepare` slices on the model worker in its idle time."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        session: Callable[[str], DocumentSession | None],
        stop: threading.Event,
        idle_s: float = IDLE_S,
    ) -> None:
        """`session(uri)`: the document's session on the loaded model, or None."""
        self.executor, self._session, self._stop = executor, session, stop
        self.idle_s = idle_s
        self._target: tuple[str, str, int | None] | None = None  # (uri, text, edit's end)
        self._after = 0.0  # when the next slice may run
        self.queued = False  # a slice is queued or waiting for the worker to be idle
        self._lock = threading.Lock()
        self.log: list[str] | None = None  # what the worker ran, in order (tests set a list)

    def prepare(
        self, uri: str, text: str, idle_s: float | None = None, cursor: int | None = None
    ) -> None:
        """Prepare `uri`'s states over `text` once the worker is idle (`idle_s`, default the
        instance's), the state at `cursor` (where the last edit ended) first."""
        with self._lock:
            previous = self._target
            self._target = (uri, text, cursor)
            self._after = time.monotonic() + (self.idle_s if idle_s is None else idle_s)
            queue = not self.queued
            self.queued = True
        if previous is not None and previous[0] != uri:
            self.executor.submit(self._drop, previous[0])
        if queue:
            self._queue_slice()

    def postpone(self) -> None:
        """The worker is busy (a request): the next slice waits until it has been idle."""
        self._after = time.monotonic() + self.idle_s

    def forget(self, uri: str) -> None:
        """`uri` closed: nothing of it is left to prepare (its session goes too)."""
        with self._lock:
            if self._target is not None and self._target[0] == uri:
                self._target = None

    def _queue_slice(self) -> None:
        wait = self._after - time.monotonic()
        if wait > 0:  # not idle yet: wait off the worker
            timer = threading.Timer(wait, self._queue_slice)
            timer.daemon = True
            timer.start()
            return
        with contextlib.suppress(RuntimeError):  # RuntimeError: shut down
            self.executor.submit(self._slice)

    def _slice(self) -> None:
        with self._lock:
            target = self._target
            if target is None or self._stop.is_set():
                self.queued = False
                return
            if time.monotonic() < self._after:  # a request or an edit came meanwhile
                threading.Thread(target=self._queue_slice, daemon=True).start()
                return
        uri, text, cursor = target
        session = self._session(uri)
        more = session is not None and session.prepare(text, cursor=cursor)
        if session is not None and self.log is not None:
            self.log.append(f"prepare {uri}")
        with self._lock:
            if more or self._target != target:
                self.executor.submit(self._slice)
            else:
                self._target, self.queued = None, False

    def _drop(self, uri: str) -> None:
        session = self._session(uri)
        if session is not None:
            session.drop_prepared()
