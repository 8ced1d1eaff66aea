"""Log each cause of trouble once, then only a periodic count, never once per frame.

A camera that sends an unsupported encoding does so at 30 Hz; logging every frame would
bury every other message. rclpy's `throttle_duration_sec` throttles per call site, so two
different causes logged from one place would hide each other. This reporter keys on the
cause instead: the first occurrence is logged in full (with a traceback when there is one),
later ones are counted and summarised at most every `interval` seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class CauseReporter:
    """Rate-limits messages per cause; thread-safe."""

    def __init__(self, log: Callable[[str], None], interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[int, float, int]] = {}  # cause -> (count, logged_at, n)

    def report(self, cause: str, message: str, details: str | None = None) -> bool:
        """Count one occurrence of `cause`; return True when it was logged."""
        now = self._clock()
        with self._lock:
            count, logged_at, logged_count = self._seen.get(cause, (0, -float('inf'), 0))
            count += 1
            first = count == 1
            due = first or now - logged_at >= self._interval
            self._seen[cause] = (count, now if due else logged_at,
                                 count if due else logged_count)
        if not due:
            return False
        if first:
            self._log(message + (f'\n{details}' if details else ''))
        else:
            self._log(f'{message} ({count - logged_count} more since the last report, '
                      f'{count} in all)')
        return True

    def count(self, cause: str) -> int:
        with self._lock:
            return self._seen.get(cause, (0, 0.0, 0))[0]
