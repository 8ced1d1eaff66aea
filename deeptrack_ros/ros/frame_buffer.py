"""A one-slot, drop-oldest hand-over of frames from the subscription to the tracking thread.

Why one slot: a tracker that is slower than the camera must always work on the newest frame;
a queue would make it fall further behind with every frame. A frame that arrives while the
slot is full replaces the older one, which is counted as dropped.

The counters obey received = processed + dropped + rejected + pending, where pending is the
frame waiting in the slot plus the frames the consumer has taken but not yet reported on with
`mark_processed` / `mark_rejected`. All methods are thread-safe; the consumer blocks on a
condition variable (no polling) and is woken by a new frame, by `wake()` (a command that needs
the consumer's attention without a frame) or by `close()`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar('T')


@dataclass(frozen=True)
class BufferCounters:
    """A consistent snapshot of the buffer's counters."""

    received: int = 0
    processed: int = 0
    dropped: int = 0
    rejected: int = 0
    pending: int = 0


class FrameBuffer(Generic[T]):
    """Holds at most one item; a newer item replaces an older one that was not taken yet."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._woken = False
        self._closed = False
        self._in_flight = 0
        self._received = 0
        self._processed = 0
        self._dropped = 0
        self._rejected = 0

    def put(self, item: T) -> bool:
        """Offer the newest item; return True when an older, untaken item was dropped."""
        with self._condition:
            self._received += 1
            dropped = self._full
            if dropped:
                self._dropped += 1
            self._item = item
            self._full = True
            self._condition.notify()
            return dropped

    def reject(self) -> None:
        """Count an item that arrived but was refused before reaching the buffer."""
        with self._condition:
            self._received += 1
            self._rejected += 1

    def get(self, timeout: float | None = None) -> T | None:
        """Wait for an item and take it; None when woken, closed, or after `timeout` seconds.

        A taken item stays pending until the consumer calls mark_processed or mark_rejected.
        """
        with self._condition:
            self._condition.wait_for(lambda: self._full or self._woken or self._closed,
                                     timeout)
            self._woken = False
            if not self._full or self._closed:
                return None
            item, self._item, self._full = self._item, None, False
            self._in_flight += 1
            return item

    def mark_processed(self) -> None:
        """The consumer has finished with a taken item."""
        with self._condition:
            self._in_flight = max(0, self._in_flight - 1)
            self._processed += 1

    def mark_rejected(self) -> None:
        """The consumer refused a taken item (for instance an image it could not decode)."""
        with self._condition:
            self._in_flight = max(0, self._in_flight - 1)
            self._rejected += 1

    def mark_dropped(self) -> None:
        """The consumer skipped a taken item in favour of a newer one (counted as dropped)."""
        with self._condition:
            self._in_flight = max(0, self._in_flight - 1)
            self._dropped += 1

    def discard(self) -> bool:
        """Drop the waiting item, if any (counted as dropped); True when there was one."""
        with self._condition:
            if not self._full:
                return False
            self._item, self._full = None, False
            self._dropped += 1
            return True

    def wake(self) -> None:
        """Make a waiting (or the next) `get` return None, so the consumer looks at commands."""
        with self._condition:
            self._woken = True
            self._condition.notify_all()

    def close(self) -> None:
        """Release the consumer for good: every later `get` returns None at once."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        with self._condition:
            return self._closed

    def counters(self) -> BufferCounters:
        """A snapshot of the counters taken under the lock, so they always add up."""
        with self._condition:
            return BufferCounters(
                received=self._received, processed=self._processed, dropped=self._dropped,
                rejected=self._rejected, pending=self._in_flight + (1 if self._full else 0))
