"""One tracked target over time: the node's tracking state machine, with no ROS in it.

States are those of deeptrack_ros/msg/TrackStatus: IDLE (no target), TRACKING (also with a
confidence below `lost_score` when the correlation filters still recognise the target,
`correlation_follow_peak`, or before the network has once recognised it after the init,
`lost_needs_recognition`), LOST (the tracker runs but its confidence is below `lost_score`
and the filters do not vouch for the box, or, already lost, the network jumped somewhere the
filters do not recognise, `correlation_jump_peak`; it keeps searching and returns to
TRACKING when the target is found again) and FAILED (the tracker raised on this frame; the
box is the last good one and the next frame is tried normally).

Image size changes. The core refuses a frame of another size than the one it was initialised
on. A camera that changes resolution mid-stream (a driver reconfigured, a bag with mixed
sizes) is re-initialised here deliberately: the last box is scaled by the width and height
ratios onto the new frame and a fresh tracker starts from it, keeping the track id, since the
target is the same. The frame that triggered it reports TRACKING with `reinitialised` set.

Out of memory. A CUDA device shared with other processes can run out of memory in the middle
of a track. `torch.OutOfMemoryError` during an update (or an initialisation) is therefore not
treated as one bad frame, since the next frame would very likely fail the same way: a new
tracker is initialised on the CPU, on the same frame, with the last box (on an update) or the
requested box (on an initialisation), keeping the track id; the old tracker is then released
and torch's CUDA cache emptied. The outcome carries a `warning` for the node to log. Only that
track runs on the CPU: the next `~/init` builds the tracker on the `device` parameter again, as
the memory may have been freed meanwhile. Should the CPU initialisation fail as well, the frame
is FAILED and the old tracker is kept.

Trackers are built by a factory at each (re-)initialisation, so parameter changes made
since the last one take effect there, never in the middle of a track. The factory takes an
optional `device` that overrides the configured one (used only by the CPU fallback).
"""

from __future__ import annotations

import enum
import time
import traceback
from dataclasses import dataclass, replace
from typing import Callable, Protocol

import numpy as np

from deeptrack_ros.core import DeepTracker, TrackResult
from deeptrack_ros.core.result import Box


def _out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """torch's out-of-memory exception types (torch.OutOfMemoryError is torch >= 2.5)."""
    import torch

    found = {getattr(torch, 'OutOfMemoryError', None),
             getattr(getattr(torch, 'cuda', None), 'OutOfMemoryError', None)}
    return tuple(t for t in found if isinstance(t, type) and issubclass(t, BaseException))


OUT_OF_MEMORY_ERRORS = _out_of_memory_errors()


class TrackerFactory(Protocol):
    """Builds a tracker from the current parameters; `device` overrides the configured one."""

    def __call__(self, device: str | None = None) -> DeepTracker: ...


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
    error_type: str | None = None
    traceback: str | None = None
    warning: str | None = None
    failed_init: bool = False  # FAILED while initialising (already logged by the worker)


class TrackingSession:
    """Owns the current tracker and track id; used by one thread only (the worker)."""

    def __init__(self, tracker_factory: TrackerFactory) -> None:
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

        The new tracker replaces the current one only once its initialisation succeeded. Out of
        memory on the configured device: the CPU is tried (see the module doc).
        """
        started = time.perf_counter()
        try:
            return self._start_on(None, image, box, track_id, started)
        except OUT_OF_MEMORY_ERRORS as exc:
            # Leave the except block before retrying: its traceback holds the failed tracker's
            # tensors, which could not be released while it is alive.
            warning, details = _oom_warning(exc, 'an initialisation'), traceback.format_exc()
        outcome = self._start_on('cpu', image, box, track_id, started)
        return replace(outcome, warning=warning, traceback=details)

    def _start_on(self, device: str | None, image: np.ndarray, box: Box, track_id: str,
                  started: float) -> FrameOutcome:
        """Build a tracker (on `device`, or the configured one) and initialise it."""
        tracker = self._factory() if device is None else self._factory(device=device)
        result = tracker.initialize(image, box)
        self._tracker, self._track_id = tracker, track_id
        self._box = result.box
        self._size = (image.shape[1], image.shape[0])
        if device is not None:
            _release_cuda_cache()  # the tracker that ran out of memory is garbage by now
        return FrameOutcome(TrackState.TRACKING, track_id, result.box, result,
                            (time.perf_counter() - started) * 1e3)

    def step(self, image: np.ndarray,
             on_estimate: Callable[[TrackResult], None] | None = None) -> FrameOutcome:
        """Track the next frame; never raises for a tracker error (FAILED is returned).

        `on_estimate` is passed to `DeepTracker.track`: called with the box before the
        online update runs (not for a frame that re-initialises the tracker).
        """
        if self._tracker is None:
            return FrameOutcome(TrackState.IDLE, '', None)
        started = time.perf_counter()
        size = (image.shape[1], image.shape[0])
        try:
            if size != self._size:
                return self._restart_resized(image, size, started)
            result = self._tracker.track(image, on_estimate=on_estimate)
        except OUT_OF_MEMORY_ERRORS as exc:
            warning, details = _oom_warning(exc, 'an update'), traceback.format_exc()
        except Exception as exc:  # noqa: BLE001 - one bad frame must not end the node
            return self._failed(exc, started)
        else:
            self._box = result.box
            state = TrackState.LOST if result.lost else TrackState.TRACKING
            return FrameOutcome(state, self._track_id, result.box, result,
                                (time.perf_counter() - started) * 1e3)
        return self._restart_on_cpu(image, started, warning, details)

    def reset(self) -> None:
        """Drop the track: back to IDLE."""
        self._tracker, self._track_id, self._box, self._size = None, '', None, None

    def _failed(self, exc: BaseException, started: float,
                warning: str | None = None) -> FrameOutcome:
        """This frame FAILED: the last good box, the error and its traceback; track kept."""
        return FrameOutcome(TrackState.FAILED, self._track_id, self._box, None,
                            (time.perf_counter() - started) * 1e3,
                            error=f'{type(exc).__name__}: {exc}',
                            error_type=type(exc).__name__, traceback=traceback.format_exc(),
                            warning=warning)

    def _restart_on_cpu(self, image: np.ndarray, started: float, warning: str,
                        details: str) -> FrameOutcome:
        """Out of memory during an update: re-initialise on the CPU (see the module doc)."""
        assert self._box is not None
        try:
            outcome = self._start_on('cpu', image, _clip_box(self._box, image.shape),
                                     self._track_id, started)
        except Exception as exc:  # noqa: BLE001 - keep the old tracker, report the frame
            return self._failed(exc, started, f'{warning}; the CPU initialisation failed too, '
                                'so the old tracker is kept')
        return replace(outcome, reinitialised=True, warning=warning, traceback=details)

    def _restart_resized(self, image: np.ndarray, size: tuple[int, int],
                         started: float) -> FrameOutcome:
        """Re-initialise on the last box scaled to the new image size (see module doc)."""
        assert self._box is not None and self._size is not None
        sx, sy = size[0] / self._size[0], size[1] / self._size[1]
        x, y, w, h = self._box
        outcome = self.start(image, (x * sx, y * sy, w * sx, h * sy), self._track_id)
        return replace(outcome, processing_ms=(time.perf_counter() - started) * 1e3,
                       reinitialised=True)


def _oom_warning(exc: BaseException, during: str) -> str:
    """The warning logged for an out-of-memory error (its first line only: CUDA's is long)."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ''
    return (f'out of memory during {during} ({type(exc).__name__}: {first_line}): '
            're-initialised on the CPU on the last box, same track; the next ~/init uses the '
            'device parameter again')


def _clip_box(box: Box, shape: tuple[int, ...]) -> Box:
    """The last box clipped to the image, so that a box that drifted off the border can still
    start the CPU tracker (the core refuses only boxes wholly outside)."""
    from deeptrack_ros.core.boxes import validate_box

    try:
        return validate_box(box, shape)
    except ValueError:
        return box


def _release_cuda_cache() -> None:
    """Give the memory of a dropped CUDA tracker back to the device (no-op without CUDA)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
