"""Giving freed memory back to the operating system after documents close.

CPython's allocator and glibc keep freed memory for reuse, so after an editor closes 300 files
the server's RSS stays at its peak although nothing refers to those documents any more. Closing
is rare and cheap to follow up: a moment after the last close of a burst, the server collects
reference cycles and asks glibc to return its free pages (`model/heap.py`; where there is no
glibc, macOS or musl, only the collection runs).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable

from grucomplete.model.heap import return_free_pages

log = logging.getLogger("grucomplete.server")


def release_freed_memory() -> bool:
    """Collect garbage and return free heap pages to the OS; True if glibc released some."""
    gc.collect()
    return return_free_pages()


class ReleaseAfterCloses:
    """Runs `release` once, `delay_s` after the last of a burst of closes.

    `release` is usually a submission to the model's worker, so it runs after the sessions
    that the closes dropped are gone.
    """

    def __init__(self, release: Callable[[], object], delay_s: float = 0.5) -> None:
        self.release = release
        self.delay_s = delay_s
        self._pending: asyncio.TimerHandle | None = None

    def document_closed(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the event loop (unit tests): release now
            self._run()
            return
        if self._pending is not None:
            self._pending.cancel()
        self._pending = loop.call_later(self.delay_s, self._run)

    def _run(self) -> None:
        self._pending = None
        try:
            self.release()
        except Exception:  # e.g. the worker is shut down; memory is the least concern then
            log.debug("memory release skipped", exc_info=True)
