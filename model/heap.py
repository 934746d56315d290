"""Giving freed heap memory back to the operating system (glibc's `malloc_trim`).

CPython's allocator and glibc keep freed memory for reuse, and each thread that allocates
gets an arena of its own: after the workspace memory's builder frees a group's buffers, or the
server closes 300 documents, the process's RSS stays at its peak although nothing refers to
that memory any more. `malloc_trim(0)` walks every arena and returns their free pages. Where
there is no glibc (macOS, musl) it is a no-op. No torch here: the server imports this at start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable


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


def return_free_pages() -> bool:
    """Return the free pages of every malloc arena to the OS; True if glibc released some.
    The call releases the GIL (ctypes), so another thread's Python keeps running."""
    return bool(_TRIM(0)) if _TRIM is not None else False


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def map_large_allocations(threshold: int = 1 << 20) -> bool:
    """Serve every allocation of at least `threshold` bytes with its own mapping, returned to
    the OS the moment it is freed. glibc's default threshold grows to the largest block freed
    so far (up to 32 MB), after which such blocks come from an arena and stay resident when
    freed: the workspace memory's build freed 25 MB blocks and left the server ~100 MB larger.
    A mapping costs a few microseconds a MB, and allocations this large are rare on the model
    worker (a 512-token prompt's outputs, 1.5 MB). True where glibc took the setting."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
