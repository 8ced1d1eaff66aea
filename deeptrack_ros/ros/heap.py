"""Give freed heap memory back to the operating system now and then (glibc's malloc_trim).

Why: the tracker allocates and frees many tensor buffers of varying sizes on every frame, in
the tracking thread. glibc keeps freed memory in that thread's arena for reuse, and with
buffers of changing sizes the arena fragments: measured on the soak (160x120, shipped
parameters), the node's resident memory crept up by more than 200 MB over 20,000 frames
with no object leaked (the Python object count and the live tensors stayed constant). The
same loop with `malloc_trim(0)` every 250 frames stayed flat within a few MB. A robot watching
the node's memory should see what it really holds, so the worker trims after each
initialisation (a whole tracker was just freed) and otherwise at most every `period` seconds.

A trim walks the heap and costs a few milliseconds; it runs after a frame's outcome has been
published, so it never delays a detection. Where the C library has no malloc_trim (musl,
macOS, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from typing import Callable

TRIM_PERIOD = 10.0
"""Seconds between two periodic trims."""


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def trim_available() -> bool:
    """True where the C library has malloc_trim (glibc)."""
    return _MALLOC_TRIM is not None


def trim() -> bool:
    """Return free heap memory to the operating system now; True when something was freed."""
    return bool(_MALLOC_TRIM(0)) if _MALLOC_TRIM is not None else False


class HeapTrimmer:
    """Calls `trim()` when asked to and at most every `period` seconds otherwise."""

    def __init__(self, period: float = TRIM_PERIOD,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._period = period
        self._clock = clock
        self._last = clock()
        self.trims = 0

    def after_frame(self, force: bool = False) -> bool:
        """Trim when `force` (a tracker was just replaced) or the period has passed."""
        now = self._clock()
        if not force and now - self._last < self._period:
            return False
        self._last = now
        self.trims += 1
        trim()
        return True
