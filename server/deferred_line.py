"""The popup's line, decoded after the popup's answer (issue 14: the popup never waits for it).

A client without ghost text (Neovim's popup) gets whole lines in its popup, but a line costs
more model steps than the words. Where the answer went out without one, its line is decoded
on the model worker right after, for the next keystroke's popup (which carries the lines the
typing still follows). Every request counts and interrupts that line within a decoding step,
unless it asks at the very place the line is for: then the worker's answer will have it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Executor

# decode(uri, text_before, cancel): the line at `text_before`, stopping once `cancel` is set.
DecodeLine = Callable[[str, str, threading.Event], None]


class DeferredLine:
    """At most one line decoded in idle time, for the place of the last answer."""

    def __init__(self, executor: Executor, decode: DecodeLine) -> None:
        self._executor, self._decode = executor, decode
        self._serial = 0  # requests seen: a line is queued only if none came after its answer
        self._cancel = threading.Event()
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
            self._place = (uri, text_before)
        with contextlib.suppress(RuntimeError):  # RuntimeError: the executor is shut down
            self._executor.submit(self._decode, uri, text_before, cancel)

    def stop(self) -> None:
        self._cancel.set()
