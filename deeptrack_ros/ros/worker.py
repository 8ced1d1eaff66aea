"""The tracking thread: takes the newest frame, runs the tracker, hands the outcome on.

Why a thread: one tracking step costs tens of milliseconds and an initialisation up to
seconds; done in a subscription callback it would block the executor, so services,
parameters and diagnostics would stall and images would queue up. Callbacks only put frames
into the one-slot `FrameBuffer` and commands into this worker; the worker sleeps on the
buffer's condition variable until there is something to do.

Commands (from any thread): `request_init`, `request_reset`. Each bumps a generation number;
an outcome computed under an older generation is not published, so that after a reset or a
new init returns, no detection of the old track can appear (a frame whose detection went out
before the command still gets its status, so that every detection has one). The generation
check and the publication happen under one lock for exactly that reason.

Accounting. Every frame taken from the buffer is settled exactly once, as processed (one
status published for it), rejected (it could not be decoded) or dropped (skipped because the
frame being initialised on is newer, or its outcome discarded by a reset or init that came in
while it was being tracked), so that `received = processed + dropped + rejected`
holds whenever the worker is idle, even after an unexpected error in this thread. An
initialisation on a frame from the history (one already processed) publishes a second status
for that frame, with its detection, and is not counted again.

Latency: a tracked frame's detection is published as soon as the tracker knows the box,
before its online update runs (`DeepTracker.track(on_estimate=...)`); the status follows after
the update, with what it did. A controller acting on detections gets them one update earlier,
and still exactly one per tracked frame: `publish` is told the detection went out already.

Lag: with a `FreshnessPolicy` the worker may wait a few milliseconds for the next frame
instead of tracking one that is already too old for its detection to stay within the lag
budget (freshness.py); the frame it skips is counted as dropped. It never waits while a
command is pending or no track is running.

Memory: after each frame the worker may return freed heap memory to the operating system
(heap.py): right after a tracker was replaced, otherwise every few seconds.

The worker is a daemon thread with a stop event: `stop()` wakes it and joins with a timeout,
so the process can exit promptly even when a long training step is running (the step is
abandoned, never interrupted half-way through a publication).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from deeptrack_ros.core.result import Box, TrackResult
from deeptrack_ros.ros.conversions import ImageConversionError
from deeptrack_ros.ros.frame_buffer import FrameBuffer
from deeptrack_ros.ros.freshness import FreshnessPolicy, take_fresh
from deeptrack_ros.ros.heap import HeapTrimmer
from deeptrack_ros.ros.history import Frame
from deeptrack_ros.ros.session import FrameOutcome, TrackingSession, TrackState


@dataclass(frozen=True)
class InitRequest:
    """Start a new track on `box`, on `frame` when known, else on the first frame after.

    `after_seq`: frames with a sequence number up to this one arrived before the request and
    are tracked as usual; the first later frame is the one initialised on.
    """

    box: Box
    stamp_ns: int
    frame: Frame | None
    after_seq: int


class WorkerSink(Protocol):
    """What the worker needs from the node: decoding, ids, publication and reporting."""

    def convert(self, msg: Any) -> np.ndarray: ...

    def make_track_id(self, number: int) -> str: ...

    def publish(self, frame: Frame, outcome: FrameOutcome, image: np.ndarray | None,
                detection_sent: bool = False) -> None: ...

    def publish_detection(self, frame: Frame, track_id: str, result: TrackResult) -> None: ...

    def frame_rejected(self, error: ImageConversionError) -> None: ...

    def init_rejected(self, reason: str, details: str | None = None) -> None: ...

    def worker_error(self, error: Exception, details: str) -> None: ...


class TrackingWorker:
    """Runs `session` on frames from `buffer` in a daemon thread."""

    def __init__(self, buffer: FrameBuffer[Frame], session: TrackingSession,
                 sink: WorkerSink, name: str = 'deeptrack_worker',
                 freshness: FreshnessPolicy | None = None) -> None:
        self._buffer = buffer
        self._session = session
        self._sink = sink
        self._freshness = freshness
        self._taken_at = 0.0  # time.monotonic() when the frame being handled was taken
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._generation = 0
        self._pending_init: InitRequest | None = None
        self._pending_reset = False
        self._tracks_started = 0
        self._unsettled = False  # a frame was taken from the buffer and not yet counted
        self._heap = HeapTrimmer()
        self._tracker_replaced = False  # a tracker was freed: trim the heap now
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # --- control, from any thread -------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        """Ask the thread to end and wait up to `timeout` s; True when it has ended.

        Only the first call waits: a later one (destroy_node after main's bounded stop) must
        not add another timeout to a shutdown that is already late.
        """
        first = not self._stop.is_set()
        self._stop.set()
        self._buffer.close()
        if first and self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def request_init(self, request: InitRequest) -> None:
        """Queue a (re-)initialisation; a newer request replaces one not yet started."""
        with self._lock:
            self._generation += 1
            self._pending_init = request
        self._buffer.wake()

    def request_reset(self) -> None:
        """Drop the track (and any initialisation not yet started)."""
        with self._lock:
            self._generation += 1
            self._pending_init = None
            self._pending_reset = True
        self._buffer.wake()

    # --- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self._buffer.get()
            if self._stop.is_set():
                break
            self._unsettled = frame is not None
            try:
                if frame is not None and self._may_wait():
                    frame = take_fresh(self._buffer, frame, self._freshness, _arrival)
                    if self._stop.is_set():
                        break
                self._taken_at = time.monotonic()
                self._handle(frame)
                self._heap.after_frame(force=self._tracker_replaced)
                self._tracker_replaced = False
            except Exception as exc:  # noqa: BLE001 - keep the thread alive whatever happens
                if self._stop.is_set():
                    break  # e.g. a publisher destroyed under us during shutdown
                # A frame that met an unexpected error before its status went out is counted
                # as rejected: it gets no status, and /diagnostics then warns about it.
                self._settle(self._buffer.mark_rejected)
                self._sink.worker_error(exc, _format_exception())

    def _may_wait(self) -> bool:
        """Whether the frame at hand may be exchanged for a fresher one: a track is running
        (its detection is what must be fresh) and no command waits."""
        if self._freshness is None or not self._session.active:
            return False
        with self._lock:
            return self._pending_init is None and not self._pending_reset

    def _settle(self, mark: Any) -> None:
        """Count the frame taken from the buffer, once (see the module doc)."""
        if self._unsettled:
            self._unsettled = False
            mark()

    def _handle(self, frame: Frame | None) -> None:
        with self._lock:
            generation = self._generation
            reset, self._pending_reset = self._pending_reset, False
            init = self._pending_init
            ready = init is not None and (
                init.frame is not None or (frame is not None and frame.seq > init.after_seq))
            if ready:
                self._pending_init = None
            else:
                init = None
        if reset:
            self._tracker_replaced = self._tracker_replaced or self._session.active
            self._session.reset()
        if init is not None:
            target = init.frame if init.frame is not None else frame
            consumed = target is frame
            self._initialise(init, target, generation, from_buffer=consumed)
            if consumed:
                return
            if frame is not None and frame.seq < init.frame.seq:
                self._settle(self._buffer.mark_dropped)  # older than the one initialised on
                return
            if frame is not None and frame.seq == init.frame.seq:
                self._settle(self._buffer.mark_processed)  # its status came from the init
                return
        if frame is not None:
            self._track(frame, generation)

    def _initialise(self, init: InitRequest, frame: Frame, generation: int,
                    from_buffer: bool) -> None:
        try:
            image = self._sink.convert(frame.msg)
        except ImageConversionError as exc:
            if from_buffer:
                self._settle(self._buffer.mark_rejected)
            self._sink.frame_rejected(exc)
            self._sink.init_rejected(f'the frame to initialise on cannot be decoded: {exc}')
            return
        number = self._tracks_started + 1
        try:
            outcome = self._session.start(image, init.box, self._sink.make_track_id(number))
        except ValueError as exc:
            self._sink.init_rejected(f'initial box refused: {exc}')
            if from_buffer:
                self._track_decoded(frame, image, generation)
            return
        except Exception as exc:  # noqa: BLE001 - a tracker bug must not end the node
            # Logged with its traceback (inits are rare, so never throttled); the frame gets a
            # FAILED status under the id the track would have had, which is not reused; the
            # running track, if any, is left as it was.
            self._tracks_started = number
            details = _format_exception()
            self._sink.init_rejected(f'initialisation failed: {type(exc).__name__}: {exc}',
                                     details)
            self._publish(frame, FrameOutcome(
                TrackState.FAILED, self._sink.make_track_id(number), init.box,
                error=f'{type(exc).__name__}: {exc}', error_type=type(exc).__name__,
                traceback=details, failed_init=True), image, generation, from_buffer)
            return
        self._tracks_started = number
        self._tracker_replaced = True
        self._publish(frame, outcome, image, generation, from_buffer)

    def _track(self, frame: Frame, generation: int) -> None:
        try:
            image = self._sink.convert(frame.msg)
        except ImageConversionError as exc:
            self._settle(self._buffer.mark_rejected)
            self._sink.frame_rejected(exc)
            return
        self._track_decoded(frame, image, generation)

    def _track_decoded(self, frame: Frame, image: np.ndarray, generation: int) -> None:
        sent = []

        def on_estimate(result: TrackResult) -> None:
            if self._freshness is not None:
                self._freshness.detection_took(time.monotonic() - self._taken_at)
            if not result.lost:
                sent.append(self._publish_detection(frame, result, generation))

        outcome = self._session.step(image, on_estimate)
        self._tracker_replaced = self._tracker_replaced or outcome.reinitialised
        self._publish(frame, outcome, image, generation, counted=True,
                      detection_sent=any(sent))

    def _publish_detection(self, frame: Frame, result: TrackResult, generation: int) -> bool:
        """Publish the frame's detection as soon as the box is known, before the update
        (see the module doc); False when a reset or init made it stale."""
        with self._lock:
            if generation != self._generation or self._stop.is_set():
                return False
            self._sink.publish_detection(frame, self._session.track_id, result)
            return True

    def _publish(self, frame: Frame, outcome: FrameOutcome, image: np.ndarray,
                 generation: int, counted: bool, detection_sent: bool = False) -> None:
        """Publish `outcome` unless a reset or init came in meanwhile (see the module doc).

        A frame whose detection already went out (before the reset or init) gets its status
        all the same: every detection has the status of its frame, and no detection is ever
        published after the reset or init was requested.

        `counted`: `frame` is the one taken from the buffer, settled here: processed when its
        status goes out (before, so that the status's counters include it), dropped when the
        outcome is discarded, since no status will ever be published for it.
        """
        with self._lock:
            stale = generation != self._generation and not detection_sent
            if stale or self._stop.is_set():
                if counted:
                    self._settle(self._buffer.mark_dropped)
                return
            if counted:
                self._settle(self._buffer.mark_processed)
            self._sink.publish(frame, outcome, image, detection_sent)


def _arrival(frame: Frame) -> float:
    return frame.received_at


def _format_exception() -> str:
    import traceback

    return traceback.format_exc()
