"""TrackerNode: the DeepTrack tracker on a ROS 2 image stream.

Interface (relative names resolve in the node's namespace, `~/` under the node's name):

- subscribes `image` (sensor_msgs/Image): sensor-data QoS, depth `qos_depth` (1), reliability
  from the `reliability` parameter (best_effort by default, which matches every publisher);
- subscribes `~/init` (vision_msgs/Detection2D, reliable): the box to track, centre and size in
  pixels. Its header.stamp names the frame the box was drawn on: if that frame is among the
  last `init_history` frames the node initialises on it, otherwise on the next frame that
  arrives. Every accepted init starts a new track with a new id. A bad box (not finite, no
  positive size, wholly outside the image) is refused with a logged reason and changes nothing;
- services `~/reset` (drop the track, back to idle; frames keep being processed) and `~/stop`
  (drop the track and ignore frames, uncounted, until the next `~/init`), both std_srvs/Trigger;
- publishes `~/detection` (vision_msgs/Detection2D, header = the image's header, id = track
  id, results[0].hypothesis.score = confidence in [0, 1]) for every tracked frame while the
  target is tracked, none while it is lost or after a failure; `~/status`
  (deeptrack_ros/TrackStatus) for every processed frame, idle ones included; `/diagnostics` every
  `diagnostics_period` s; `~/debug_image` (rgb8) when `publish_debug_image` is true.

Robustness: unsupported or malformed images are counted as rejected, logged once per cause,
and skipped; an exception in the tracker makes that frame FAILED (logged once with its
traceback) and the next frame is tried; a change of image size re-initialises on the last box
scaled to the new size (see session.py); a stamp going backwards (a bag replayed in a loop)
clears the frame history and tracking goes on (see history.py). CUDA requested where there is
none gives a warning and the CPU; CUDA out of memory during a track re-initialises it on the
CPU with a warning (see session.py).

Time. Everything that describes the stream uses the node's ROS clock, which follows /clock
under `use_sim_time`: the latency (clock now minus the image stamp; 0 while a simulated clock
has not started), the fps in /diagnostics (frames per second of ROS time), the diagnostics
period and stamps. Processing times are wall-clock durations, as they measure this machine.

Lag. With `max_lag_periods` > 0 (2 by default) the worker skips a frame that is already too
old for its detection to come out within that many camera periods of its image, and takes the
next one instead, when that one would make it (freshness.py); the skipped frame counts as
dropped, and the next one is tracked whatever its age (one wait per frame at most). The
camera period, the time to a detection and the hand-over delay are learned from the stream.

The constructor only wires things up; heavy work happens in the worker thread (worker.py),
which `destroy_node()` stops.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any

import numpy as np
import rclpy.node
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D

from deeptrack_ros.core import DeepTracker, TrackResult, resolve_device
from deeptrack_ros.msg import TrackStatus
from deeptrack_ros.ros import debug_image
from deeptrack_ros.ros.conversions import (ImageConversionError, array_to_image,
                                           box_to_detection, check_image, check_init_box,
                                           detection_to_box, image_to_rgb, stamp_to_ns)
from deeptrack_ros.ros.diagnostics import (STATE_NAMES, RateMeter, TrackerSnapshot,
                                           diagnostic_array, resident_memory_mb, tracker_pools)
from deeptrack_ros.ros.frame_buffer import FrameBuffer
from deeptrack_ros.ros.freshness import FreshnessPolicy
from deeptrack_ros.ros.history import Frame, FrameHistory
from deeptrack_ros.ros.parameters import (ParameterGuard, current_values, declare_parameters,
                                          tracker_config)
from deeptrack_ros.ros.reporting import CauseReporter
from deeptrack_ros.ros.session import FrameOutcome, TrackingSession, TrackState
from deeptrack_ros.ros.worker import InitRequest, TrackingWorker

try:  # rclpy >= Iron
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # pragma: no cover - Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

NODE_NAME = 'tracker_node'
OUTPUT_DEPTH = 10
WORKER_JOIN_TIMEOUT = 1.0


def image_qos(reliability: str, depth: int) -> QoSProfile:
    """Sensor-data QoS (keep last, volatile) with the given reliability and depth."""
    policy = (ReliabilityPolicy.RELIABLE if reliability == 'reliable'
              else ReliabilityPolicy.BEST_EFFORT)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy,
                      durability=DurabilityPolicy.VOLATILE)


class TrackerNode(rclpy.node.Node):
    """ROS 2 node around DeepTracker; see the module docstring for its interface."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._specs = declare_parameters(self)
        self.add_on_set_parameters_callback(ParameterGuard(self, self._specs))
        self._configure_torch()

        self._buffer: FrameBuffer[Frame] = FrameBuffer()
        self._history = FrameHistory(self._param('init_history'))
        self._session = TrackingSession(self._build_tracker)
        lag_budget = float(self._param('max_lag_periods'))
        self._freshness = FreshnessPolicy(lag_budget) if lag_budget > 0 else None
        self._worker = TrackingWorker(self._buffer, self._session, self,
                                      freshness=self._freshness)
        self._lock = threading.Lock()  # guards the statistics below
        self._seq = 0
        self._stopped = False
        self._snapshot = TrackerSnapshot(device=self._device_label())
        self._updates = 0
        self._inits_rejected = 0
        self._rejected_at_last_report = 0
        self._incompatible_publishers = 0
        self._fps = RateMeter()
        self._warn_once = CauseReporter(self.get_logger().warning)
        self._debug_publisher: Any = None

        self._detection_publisher = self.create_publisher(Detection2D, '~/detection',
                                                          OUTPUT_DEPTH)
        self._status_publisher = self.create_publisher(TrackStatus, '~/status', OUTPUT_DEPTH)
        self._diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics',
                                                            OUTPUT_DEPTH)
        self.create_subscription(
            Image, 'image', self._on_image,
            image_qos(self._param('reliability'), self._param('qos_depth')),
            event_callbacks=SubscriptionEventCallbacks(
                incompatible_qos=self._on_incompatible_qos))
        self.create_subscription(Detection2D, '~/init', self._on_init, OUTPUT_DEPTH)
        self.create_service(Trigger, '~/reset', self._on_reset)
        self.create_service(Trigger, '~/stop', self._on_stop)
        self.create_timer(self._param('diagnostics_period'), self._publish_diagnostics)
        self._worker.start()
        self.get_logger().info(
            f'ready: mode {self._param("mode")}, device {self._device_label()}; waiting for '
            f'images on {self.resolve_topic_name("image")} and a box on '
            f'{self.resolve_topic_name("~/init")}')

    # --- lifecycle ------------------------------------------------------------------------
    def destroy_node(self) -> None:
        """Stop the worker (bounded wait), then release the ROS entities."""
        self.stop_worker()
        super().destroy_node()

    def stop_worker(self, timeout: float = WORKER_JOIN_TIMEOUT) -> bool:
        """Stop the tracking thread; True when it ended within `timeout` seconds."""
        return self._worker.stop(timeout)

    @property
    def worker_alive(self) -> bool:
        return self._worker.alive

    # --- state for tests and diagnostics --------------------------------------------------
    def snapshot(self) -> TrackerSnapshot:
        """The current figures, as /diagnostics would report them now."""
        with self._lock:
            snapshot = self._snapshot
            rejected = self._buffer.counters().rejected
            return TrackerSnapshot(
                state='stopped' if self._stopped else snapshot.state,
                track_id=snapshot.track_id, quality=snapshot.quality, score=snapshot.score,
                confidence=snapshot.confidence, fps=self._fps.rate(),
                latency_ms=snapshot.latency_ms, counters=self._buffer.counters(),
                updates=self._updates, inits_rejected=self._inits_rejected,
                rejected_recently=rejected - self._rejected_at_last_report,
                low_quality=float(self._param('low_quality')), device=self._device_label(),
                pools=snapshot.pools, rss_mb=resident_memory_mb())

    @property
    def incompatible_publishers(self) -> int:
        """Image publishers seen whose QoS cannot match the subscription (e.g. reliability)."""
        with self._lock:
            return self._incompatible_publishers

    # --- subscriptions and services (executor thread) ------------------------------------
    def _on_image(self, msg: Image) -> None:
        if self._stopped:
            return
        try:
            check_image(msg)
        except ImageConversionError as exc:
            self._buffer.reject()
            self.frame_rejected(exc)
            return
        self._seq += 1
        frame = Frame(self._seq, stamp_to_ns(msg.header.stamp), msg, time.monotonic())
        if self._history.add(frame):
            self.get_logger().info(
                'image stamp went backwards (bag loop or clock reset?): the frame history for '
                '~/init was cleared; tracking continues')
        if self._freshness is not None:
            self._freshness.frame_arrived(frame.received_at)
        self._buffer.put(frame)

    def _on_init(self, msg: Detection2D) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        frame = self._history.find(stamp)
        reference = frame if frame is not None else self._history.latest()
        size = None if reference is None else (reference.msg.width, reference.msg.height)
        try:
            box = check_init_box(detection_to_box(msg), size)
        except ValueError as exc:
            self.init_rejected(f'~/init refused: {exc}')
            return
        self._stopped = False
        self._worker.request_init(InitRequest(box, stamp, frame, after_seq=self._seq))
        where = 'on the frame with that stamp' if frame is not None else 'on the next frame'
        self.get_logger().info(f'~/init: box {tuple(round(v, 1) for v in box)} accepted, '
                               f'initialising {where}')

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        self._stopped = False
        self._worker.request_reset()
        self._set_idle()
        response.success = True
        response.message = 'track dropped; idle until the next ~/init'
        return response

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        self._stopped = True
        self._worker.request_reset()
        self._buffer.discard()
        self._set_idle()
        response.success = True
        response.message = 'tracking stopped; images are ignored until the next ~/init'
        return response

    def _on_incompatible_qos(self, event: Any) -> None:
        with self._lock:
            self._incompatible_publishers = int(event.total_count)
        self._warn_once.report(
            'incompatible_qos', f'an image publisher on {self.resolve_topic_name("image")} '
            f'offers QoS incompatible with this subscription (reliability '
            f'{self._param("reliability")}); its images will not arrive. Set the parameter '
            "reliability to 'best_effort' to accept every publisher")

    def _publish_diagnostics(self) -> None:
        snapshot = self.snapshot()
        with self._lock:
            self._rejected_at_last_report = snapshot.counters.rejected
        name = f'{self.get_fully_qualified_name()}: tracker'
        self._diagnostics_publisher.publish(
            diagnostic_array(snapshot, name, self.get_clock().now().to_msg()))

    # --- WorkerSink (worker thread) -------------------------------------------------------
    def convert(self, msg: Image) -> np.ndarray:
        return image_to_rgb(msg, float(self._param('mono16_max')))

    def make_track_id(self, number: int) -> str:
        return f'{self._param("track_id_prefix")}-{number}'

    def publish_detection(self, frame: Frame, track_id: str, result: TrackResult) -> None:
        """The detection of a tracked frame, sent before the tracker's update (worker.py)."""
        self._detection_publisher.publish(box_to_detection(
            result.box, frame.msg.header, track_id, result.confidence, self._param('class_id')))

    def publish(self, frame: Frame, outcome: FrameOutcome, image: np.ndarray | None,
                detection_sent: bool = False) -> None:
        header = frame.msg.header
        counters = self._buffer.counters()
        latency_ms = self._latency_ms(frame.stamp_ns)
        if outcome.warning:
            self._warn_once.report('out_of_memory', outcome.warning, outcome.traceback)
        if outcome.state == TrackState.FAILED and not outcome.failed_init:
            # Keyed by the exception's type: a message that varies per frame must not turn
            # one recurring fault into a traceback per frame.
            self._warn_once.report(f'tracker:{outcome.error_type}',
                                   f'the tracker failed on a frame: {outcome.error}',
                                   outcome.traceback)
        if outcome.reinitialised:
            self.get_logger().info(f'image size changed: re-initialised {outcome.track_id} on '
                                   'the last box scaled to the new size')
        status = status_message(header, outcome, counters, latency_ms)
        self._status_publisher.publish(status)
        result = outcome.result
        if (outcome.state == TrackState.TRACKING and outcome.box is not None and result
                and not detection_sent):
            self._detection_publisher.publish(box_to_detection(
                outcome.box, header, outcome.track_id, result.confidence,
                self._param('class_id')))
        self._record(outcome, latency_ms)
        if image is not None and self._param('publish_debug_image'):
            self._publish_debug_image(header, image, outcome)

    def frame_rejected(self, error: ImageConversionError) -> None:
        self._warn_once.report(f'image:{error.cause}', f'image rejected: {error}')

    def init_rejected(self, reason: str, details: str | None = None) -> None:
        with self._lock:
            self._inits_rejected += 1
        self.get_logger().warning(reason + (f'\n{details}' if details else ''))

    def worker_error(self, error: Exception, details: str) -> None:
        self._warn_once.report(f'worker:{type(error).__name__}',
                               f'unexpected error in the tracking thread (it goes on): {error}',
                               details)

    # --- helpers --------------------------------------------------------------------------
    def _param(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _configure_torch(self) -> None:
        self._apply_torch_threads()
        _, warning = resolve_device(self._param('device'))
        if warning:
            self.get_logger().warning(warning)

    def _apply_torch_threads(self) -> None:
        """Limit torch's threads, in the calling thread.

        Called again from the worker thread at each initialisation: torch's intra-op thread
        count is per thread (an OpenMP setting), so setting it only in the main thread would
        leave the tracking thread on the default.
        """
        threads = int(self._param('torch_threads'))
        if threads > 0:
            import torch

            torch.set_num_threads(threads)

    def _device_label(self) -> str:
        tracker = self._session.tracker
        if tracker is not None:
            return str(tracker.device)
        device, _ = resolve_device(self._param('device'))
        return str(device)

    def _build_tracker(self, device: str | None = None) -> DeepTracker:
        """A tracker with the parameters as they are now (called at each initialisation).

        `device` overrides the parameter (the session's CPU fallback after out of memory).
        """
        self._apply_torch_threads()
        values = current_values(self, self._specs)
        seed = int(values['seed'])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            tracker = DeepTracker(tracker_config(values), device=device or values['device'],
                                  seed=None if seed < 0 else seed)
        for warning in caught:
            self._warn_once.report(f'device:{warning.message}', str(warning.message))
        return tracker

    def _latency_ms(self, stamp_ns: int) -> float:
        """ROS clock now minus the image stamp; 0 without a stamp or a started clock."""
        now_ns = self.get_clock().now().nanoseconds
        if stamp_ns <= 0 or now_ns <= 0:
            return 0.0
        return (now_ns - stamp_ns) / 1e6

    def _record(self, outcome: FrameOutcome, latency_ms: float) -> None:
        result = outcome.result
        with self._lock:
            if result is not None and result.updated:
                self._updates += 1
            self._snapshot = TrackerSnapshot(
                state=STATE_NAMES[outcome.state], track_id=outcome.track_id,
                quality=result.quality if result else 0.0,
                score=result.score if result else 0.0,
                confidence=result.confidence if result else 0.0, latency_ms=latency_ms,
                pools=tracker_pools(self._session.tracker))
        if outcome.state != TrackState.IDLE:
            now_ns = self.get_clock().now().nanoseconds
            if now_ns > 0:
                self._fps.tick(now_ns / 1e9)

    def _set_idle(self) -> None:
        with self._lock:
            self._snapshot = TrackerSnapshot()

    def _publish_debug_image(self, header: Any, image: np.ndarray,
                             outcome: FrameOutcome) -> None:
        if self._debug_publisher is None:
            self._debug_publisher = self.create_publisher(Image, '~/debug_image', 1)
        if self._debug_publisher.get_subscription_count() == 0:
            return
        picture = debug_image.render(image, outcome)
        self._debug_publisher.publish(array_to_image(picture, 'rgb8', header=header))


def status_message(header: Any, outcome: FrameOutcome, counters: Any,
                   latency_ms: float) -> TrackStatus:
    """The TrackStatus of one processed frame."""
    status = TrackStatus()
    status.header = header
    status.state = int(outcome.state)
    status.track_id = outcome.track_id
    if outcome.box is not None:
        status.x, status.y, status.width, status.height = (float(v) for v in outcome.box)
    result = outcome.result
    if result is not None:
        status.score = float(result.score) if np.isfinite(result.score) else 0.0
        status.confidence = float(result.confidence)
        status.quality = float(result.quality) if np.isfinite(result.quality) else 0.0
        status.model_updated = bool(result.updated)
        status.update_iterations = int(result.iterations) if result.updated else 0
    status.frames_received = counters.received
    status.frames_processed = counters.processed
    status.frames_dropped = counters.dropped
    status.frames_rejected = counters.rejected
    status.processing_time_ms = float(outcome.processing_ms)
    status.latency_ms = float(latency_ms)
    return status
