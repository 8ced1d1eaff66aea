"""Recent frames by stamp, so an `~/init` can name the frame its box was drawn on.

A box from a GUI or a detector arrives after the frame it refers to, by a few frames or more.
Keeping the last N frames (the messages, not decoded) lets the node initialise on the very
frame the box belongs to, instead of on a later frame where the target has already moved.

Stamps going backwards (a bag played in a loop, a simulator reset) would let an old stamp
match a frame from the previous pass; the history is therefore cleared when a stamp is older
than the newest one, and filled again from there. Tracking itself is not affected.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Frame:
    """A received image with what the node needs to place it in time and order."""

    seq: int
    stamp_ns: int
    msg: Any = field(repr=False)
    received_at: float = 0.0  # time.monotonic() at arrival


class FrameHistory:
    """The last `size` frames keyed by stamp; thread-safe."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f'history size must be at least 1, got {size}')
        self._size = size
        self._frames: OrderedDict[int, Frame] = OrderedDict()
        self._newest_stamp: int | None = None
        self._lock = threading.Lock()

    def add(self, frame: Frame) -> bool:
        """Remember `frame`; return True when its stamp went backwards and history was reset."""
        with self._lock:
            rewound = self._newest_stamp is not None and frame.stamp_ns < self._newest_stamp
            if rewound:
                self._frames.clear()
            self._frames.pop(frame.stamp_ns, None)
            self._frames[frame.stamp_ns] = frame
            while len(self._frames) > self._size:
                self._frames.popitem(last=False)
            self._newest_stamp = frame.stamp_ns
            return rewound

    def find(self, stamp_ns: int) -> Frame | None:
        """The frame with exactly this stamp, if it is still kept."""
        with self._lock:
            return self._frames.get(stamp_ns)

    def latest(self) -> Frame | None:
        """The most recently added frame."""
        with self._lock:
            return next(reversed(self._frames.values()), None)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._newest_stamp = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)
