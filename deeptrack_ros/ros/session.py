"""One tracked target over time: the node's tracking state machine, with no ROS in it.

States are those of deeptrack_ros/msg/TrackStatus: IDLE (no target), TRACKING, LOST (the
tracker runs but its confidence is below `lost_score`; it keeps searching and returns to
TRACKING when the target is found again) and FAILED (the tracker raised on this frame; the
box is the last good one and the next frame is tried normally).

Image size changes. The core refuses a frame of another size than the one it was initialised
on. A camera that changes resolution mid-stream (a driver reconfigured, a bag with mixed
sizes) is re-initialised here deliberately: the last box is scaled by the width and height
ratios onto the new frame and a fresh tracker starts from it, keeping the track id, since the
target is the same. The frame that triggered it reports TRACKING with `reinitialised` set.

Trackers are built by a factory at each (re-)initialisation, so parameter changes made
since the last one take effect there, never in the middle of a track.
"""

from __future__ import annotations

import enum
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np

from deeptrack_ros.core import DeepTracker, TrackResult
from deeptrack_ros.core.result import Box


class TrackState(enum.IntEnum):
    """Same values as TrackStatus.STATE_*."""

    IDLE = 0
    TRACKING = 1
    LOST = 2
    FAILED = 3


@dataclass(frozen=True)
class FrameOutcome:
    """What tracking one frame produced, ready to be published."""

    state: TrackState
    track_id: str
    box: Box | None
    result: TrackResult | None = None
    processing_ms: float = 0.0
    reinitialised: bool = False
    error: str | None = None
    traceback: str | None = None


class TrackingSession:
    """Owns the current tracker and track id; used by one thread only (the worker)."""

    def __init__(self, tracker_factory: Callable[[], DeepTracker]) -> None:
        self._factory = tracker_factory
        self._tracker: DeepTracker | None = None
        self._track_id = ''
        self._box: Box | None = None
        self._size: tuple[int, int] | None = None  # (width, height) of the tracked frames

    @property
    def active(self) -> bool:
        """True while a target is being followed (any state but IDLE)."""
        return self._tracker is not None

    @property
    def track_id(self) -> str:
        return self._track_id

    @property
    def tracker(self) -> DeepTracker | None:
        return self._tracker

    def start(self, image: np.ndarray, box: Box, track_id: str) -> FrameOutcome:
        """Initialise a new track on `image`; ValueError (state unchanged) for a bad box.

        The new tracker replaces the current one only once its initialisation succeeded.
        """
        started = time.perf_counter()
        tracker = self._factory()
        result = tracker.initialize(image, box)
        self._tracker, self._track_id = tracker, track_id
        self._box = result.box
        self._size = (image.shape[1], image.shape[0])
        return FrameOutcome(TrackState.TRACKING, track_id, result.box, result,
                            (time.perf_counter() - started) * 1e3)

    def step(self, image: np.ndarray) -> FrameOutcome:
        """Track the next frame; never raises for a tracker error (FAILED is returned)."""
        if self._tracker is None:
            return FrameOutcome(TrackState.IDLE, '', None)
        started = time.perf_counter()
        size = (image.shape[1], image.shape[0])
        try:
            if size != self._size:
                return self._restart_resized(image, size, started)
            result = self._tracker.track(image)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not end the node
            return FrameOutcome(TrackState.FAILED, self._track_id, self._box, None,
                                (time.perf_counter() - started) * 1e3,
                                error=f'{type(exc).__name__}: {exc}',
                                traceback=traceback.format_exc())
        self._box = result.box
        state = TrackState.LOST if result.lost else TrackState.TRACKING
        return FrameOutcome(state, self._track_id, result.box, result,
                            (time.perf_counter() - started) * 1e3)

    def reset(self) -> None:
        """Drop the track: back to IDLE."""
        self._tracker, self._track_id, self._box, self._size = None, '', None, None

    def _restart_resized(self, image: np.ndarray, size: tuple[int, int],
                         started: float) -> FrameOutcome:
        """Re-initialise on the last box scaled to the new image size (see module doc)."""
        assert self._box is not None and self._size is not None
        sx, sy = size[0] / self._size[0], size[1] / self._size[1]
        x, y, w, h = self._box
        outcome = self.start(image, (x * sx, y * sy, w * sx, h * sy), self._track_id)
        return FrameOutcome(outcome.state, outcome.track_id, outcome.box, outcome.result,
                            (time.perf_counter() - started) * 1e3, reinitialised=True)
