"""The popup's line, decoded after the popup's answer (issue 14: the popup never waits for it).

A client without ghost text (Neovim's popup) gets whole lines in its popup, but a line costs
more model steps than the words. Where the answer went out without one, its line is decoded
on the model worker once the editor has been quiet a moment (`QUIET_S`), for the next
keystroke's popup (which carries the lines the typing still follows). Every request counts
and interrupts that line (within a decoding step, or before it starts), unless it asks at
the very place the line is for: then the worker's answer will have it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Executor

# decode(uri, text_before, cancel): the line at `text_before`, stopping once `cancel` is set.
DecodeLine = Callable[[str, str, threading.Event], None]

# The line starts once the editor has been quiet this long after the answer. Typing on, or the
# editor's next question, comes sooner and would interrupt it within a model step (1-2 ms
# spent for nothing, and waited for by that request); a person's next keystroke comes later,
# and the line is ready for it.
QUIET_S = 0.02


class DeferredLine:
    """At most one line decoded in idle time, for the place of the last answer."""

    def __init__(self, executor: Executor, decode: DecodeLine) -> None:
        self._executor, self._decode = executor, decode
        self._serial = 0  # requests seen: a line is queued only if none came after its answer
        self._cancel = threading.Event()
        self._wake = threading.Event()  # a request ends the quiet wait before a line
        self._place: tuple[str, str] | None = None  # (uri, text before the cursor)
        self._lock = threading.Lock()

    @property
    def serial(self) -> int:
        """The requests seen so far; a request passes its own to `queue`."""
        return self._serial

    def request(self, uri: str, text_before: str | None) -> None:
        """A request arrives: it goes before a line decoded for any other place."""
        with self._lock:
            self._serial += 1
            if self._place != (uri, text_before):
                self._cancel.set()
            self._wake.set()  # at the line's own place, the request wants the line now

    def decoding(self, uri: str, text_before: str) -> bool:
        """Whether the worker is decoding the line at this very place (its answer has it)."""
        with self._lock:
            return self._place == (uri, text_before) and not self._cancel.is_set()

    def queue(self, uri: str, text_before: str, serial: int) -> None:
        """Decode the line at `text_before` behind the answer just given, unless another
        request (a `serial` past the answer's) came meanwhile."""
        with self._lock:
            if self._serial != serial:
                return
            self._cancel = cancel = threading.Event()
            self._wake = wake = threading.Event()
            self._place = (uri, text_before)
        with contextlib.suppress(RuntimeError):  # RuntimeError: the executor is shut down
            self._executor.submit(self._after_quiet, uri, text_before, cancel, wake)

    def _after_quiet(
        self, uri: str, text_before: str, cancel: threading.Event, wake: threading.Event
    ) -> None:
        wake.wait(QUIET_S)
        if not cancel.is_set():
            self._decode(uri, text_before, cancel)

    def stop(self) -> None:
        self._cancel.set()
        self._wake.set()
