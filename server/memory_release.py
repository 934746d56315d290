"""Giving freed memory back to the operating system after documents close.

CPython's allocator and glibc keep freed memory for reuse, so after an editor closes 300 files
the server's RSS stays at its peak although nothing refers to those documents any more. Closing
is rare and cheap to follow up: a moment after the last close of a burst, the server collects
reference cycles and asks glibc to return its free pages (`malloc_trim(0)` walks every arena,
the worker thread's included). Where there is no glibc (macOS, musl) only the collection runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import sys
from collections.abc import Callable

log = logging.getLogger("grucomplete.server")


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only: musl has no such symbol
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_freed_memory() -> bool:
    """Collect garbage and return free heap pages to the OS; True if glibc released some."""
    gc.collect()
    return bool(_TRIM(0)) if _TRIM is not None else False


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
