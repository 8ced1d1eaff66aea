"""The ROS node's own cost and its behaviour under a fast camera (issue 6's node benchmark).

    python -m deeptrack_ros.ros.node_bench --rate 60 --seconds 10
    python -m deeptrack_ros.ros.node_bench --rate 30 --set num_particles=300 --set scoring=dense

Why: the tracker's own speed is measured offline (no ROS); what a robot sees is the tracker
plus the node around it: transport of the image, the executor, decoding, the hand-over to the
worker thread, the status and detection going back. And a camera faster than the tracker must
not make the node fall behind: frames are dropped, newest wins, so a published detection never
lags the newest image by more than about two frame periods.

How: one process, one rclpy context of its own. The real `TrackerNode` (the tracker
parameters are the given `TrackerConfig`'s fields, plus `device` and `seed`; every other node
parameter keeps its shipped default, so the image subscription is best-effort with depth 1 as
on a robot) and a bench node that plays the camera and the user. Each node is spun by its own
executor thread, and this thread publishes generated frames (`synthetic.SyntheticSequence`, a
moving and scaling target, once round its path in 20 s) at the requested rate, stamped with the
wall clock. The sequence of a run:

1. wait until the endpoints have matched; send one frame and wait for its (idle) status, so
   that nothing later is lost to discovery;
2. send `~/init` with that frame's stamp and box, and wait until the node has initialised on
   it (this can take seconds: the first-frame training);
3. camera: frames at `rate_hz` for `seconds`; the first second (at most a third of the run)
   is warm-up, left out of the figures below;
4. wait until the node's worker is idle with nothing in its buffer and its last status has
   come back, then read the figures. At the end, the worker is given time to finish a
   training step in progress (after an error or Ctrl-C): torch torn down under a running
   thread would abort the process.

Figures (see `NodeBenchResult`):

- overhead, per processed frame of the camera phase: (arrival of its status at the bench node
  - publication of its image) - the status's `processing_time_ms`. When the camera is slower
  than the tracker this is purely the node's cost. When it is faster, it also holds the time
  the frame waited in the one-slot buffer for the worker to finish the previous frame (up to
  one processing time): that is part of what a consumer sees, and exactly what `--rate` below
  the tracker's fps leaves out;
- lag, at each detection's arrival during the camera phase: how many images the camera had
  published after the detection's own, as median, p95 and max, and the share of detections
  within the issue's goal of at most 2 (a single late detection sets the max; the share says
  whether it is one or many). Counted in images, not as stamp difference over the period: the
  stamps are the wall clock at publication, and a timer's jitter would put a detection exactly
  two images behind at 2.01 periods, outside the goal;
- counters from the last status: frames received, processed, dropped, rejected. Frames
  published but never received were replaced in the DDS reader's one-deep queue before the
  node's executor took them (newest wins there too).

Everything runs in one process, so DDS delivers intra-process and the bench's threads share
the interpreter (and its lock) with the node's; a camera driver in its own process would add
a copy through shared memory, and take nothing from the node's interpreter.

Network: a random ROS_DOMAIN_ID in 1..101 with localhost-only discovery unless the caller set
a domain; the loopback transport profile unless one is set. Variables already set are kept.
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import pathlib
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from deeptrack_ros.core import TrackerConfig, preset
from deeptrack_ros.core.config import DEFAULT_MODE, config_fields
from deeptrack_ros.ros.cli_args import frame_size

SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]
LOOPBACK_PROFILE = SOURCE_ROOT / 'config' / 'fastdds_loopback.xml'
DOMAIN_RANGE = (1, 101)
WARMUP_S = 1.0            # camera time left out of the figures (at most a third of the run)
LOOP_S = 20.0             # the generated target goes round its path once in this time
RENDERED_FRAMES = 240     # distinct frames rendered for one loop (each shown several times)
CONNECT_TIMEOUT_S = 60.0
FIRST_STATUS_TIMEOUT_S = 60.0
INIT_TIMEOUT_S = 600.0    # the first-frame training of a heavy config on a loaded CPU
LAG_GOAL_FRAMES = 2.0     # issue 6: a detection at most two frame periods behind the newest image
DRAIN_SETTLE_S = 1.0      # after the camera stopped, for images still in transport
DRAIN_TIMEOUT_S = 300.0
WORKER_STOP_TIMEOUT_S = 60.0  # a training step cannot be interrupted; wait for it to end
STATE_IDLE, STATE_TRACKING, STATE_LOST, STATE_FAILED = range(4)


@dataclass(frozen=True)
class NodeBenchResult:
    """The figures of one node benchmark run (see the module docstring for how each is taken).

    Figures with no sample (a run too short to leave any after the warm-up) are NaN.
    """

    rate_hz: float               # camera rate that was published
    seconds: float               # how long images were published (the camera phase)
    published: int               # images published (the handshake frame included)
    received: int                # the last TrackStatus's counters ...
    processed: int
    dropped: int
    rejected: int
    detections: int              # Detection2D messages received (the initialisation's included)
    overhead_ms_median: float    # status arrival - image publication - processing_time_ms
    overhead_ms_p95: float
    tracker_ms_median: float     # median processing_time_ms
    lag_frames_median: float     # images published after the detection's own
    lag_frames_p95: float
    lag_frames_max: float        # max of the above after the warm-up
    lag_within_goal: float       # share of those detections at most LAG_GOAL_FRAMES behind

    def lines(self) -> list[str]:
        """A human-readable summary, one figure per line, for a terminal or a closing note."""
        never = self.published - self.received
        fps = 1000.0 / self.tracker_ms_median if self.tracker_ms_median > 0 else math.nan
        return [
            f'ROS node under a {self.rate_hz:g} Hz camera for {self.seconds:.1f} s',
            f'  frames      published {self.published}, received {self.received} '
            f'(never received {never}), processed {self.processed}, dropped {self.dropped}, '
            f'rejected {self.rejected}',
            f'  detections  {self.detections}',
            f'  tracker     median {_ms(self.tracker_ms_median)} per processed frame '
            f'({_number(fps, "fps")})',
            f'  overhead    median {_ms(self.overhead_ms_median)}, p95 '
            f'{_ms(self.overhead_ms_p95)} (image sent -> status back, less the tracker)',
            f'  lag         median {_number(self.lag_frames_median, "frames")}, p95 '
            f'{_number(self.lag_frames_p95, "frames")}, max '
            f'{_number(self.lag_frames_max, "frames")} behind the newest image; '
            f'{_percent(self.lag_within_goal)} of detections within the goal '
            f'(<= {LAG_GOAL_FRAMES:g})',
        ]


def run_node_benchmark(config: TrackerConfig | None = None, rate_hz: float = 60.0,
                       seconds: float = 10.0, image_size: tuple[int, int] = (320, 240),
                       seed: int = 0, device: str = 'cpu',
                       max_lag_periods: float | None = None) -> NodeBenchResult:
    """Run a TrackerNode under a generated camera in this process; return its figures.

    `config` sets the tracker parameters (default: the 'best' preset), `seed` the node's seed
    and the generated video's, `device` the node's torch device, `max_lag_periods` its lag
    budget (None: the node's default), so the budget's effect can be measured. Raises
    ValueError for bad
    arguments or parameters the node refuses, RuntimeError when the node does not answer
    (discovery, initialisation) in time.
    """
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f'rate_hz must be positive, got {rate_hz!r}')
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f'seconds must be positive, got {seconds!r}')
    config = preset(DEFAULT_MODE) if config is None else config
    prepare_environment()

    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from deeptrack_ros.ros.synthetic import SyntheticSequence
    from deeptrack_ros.ros.tracker_node import TrackerNode

    loop = max(1, int(round(rate_hz * LOOP_S)))
    sequence = SyntheticSequence(count=min(loop, RENDERED_FRAMES), size=tuple(image_size),
                                 seed=seed)
    camera = _Camera(sequence, loop)
    values = node_parameters(config, seed, device)
    if max_lag_periods is not None:
        values['max_lag_periods'] = float(max_lag_periods)
    parameters = [Parameter(name, value=value) for name, value in values.items()]
    namespace = f'/deeptrack_bench_{uuid.uuid4().hex[:8]}'

    context = Context()
    rclpy.init(context=context)
    spinners: list[_Spinner] = []
    tracker_node = bench = None
    try:
        tracker_node = TrackerNode(context=context, namespace=namespace,
                                   parameter_overrides=parameters)
        bench = _BenchNode(context, namespace, tracker_node.get_name())
        spinners = [_Spinner(tracker_node, context), _Spinner(bench.node, context)]
        failed = lambda: next((s.error for s in spinners if s.error), None)  # noqa: E731
        return _run(bench, camera, rate_hz, seconds, failed,
                    lambda: tracker_node.snapshot().counters)
    finally:
        if tracker_node is not None:
            tracker_node.stop_worker(WORKER_STOP_TIMEOUT_S)
        for spinner in spinners:
            spinner.stop()
        if bench is not None:
            bench.node.destroy_node()
        if tracker_node is not None:
            tracker_node.destroy_node()
        context.try_shutdown()


def node_parameters(config: TrackerConfig, seed: int = 0, device: str = 'cpu') -> dict[str, Any]:
    """The TrackerNode parameters that reproduce `config`, with `seed` and `device`.

    Every field is given (not only those that differ from the preset), so the node runs
    exactly `config`. Values take the parameter's declared type: ROS parameters are statically
    typed, and a float field holding an int would be refused.
    """
    from deeptrack_ros.ros.parameters import tracker_specs

    defaults = {spec.name: spec.default for spec in tracker_specs(config.mode)}
    values: dict[str, Any] = {}
    for name, _, _ in config_fields():
        value = getattr(config, name)
        if isinstance(value, tuple):
            value = [float(v) for v in value]
        elif isinstance(defaults.get(name), float) and not isinstance(value, bool):
            value = float(value)
        values[name] = value
    values.update(seed=int(seed), device=str(device))
    return values


def prepare_environment() -> None:
    """A private, local network unless the caller chose one (see the module docstring).

    Must run before rclpy.init(): the middleware reads these when the context starts.
    """
    if 'ROS_DOMAIN_ID' not in os.environ:
        os.environ['ROS_DOMAIN_ID'] = str(random.SystemRandom().randint(*DOMAIN_RANGE))
        os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    if LOOPBACK_PROFILE.is_file():
        os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(LOOPBACK_PROFILE))


# --- the run ----------------------------------------------------------------------------------


@dataclass
class _Record:
    """What the bench node saw, filled by its callbacks (times are perf_counter ns)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    published: dict[int, int] = field(default_factory=dict)    # stamp -> publication time
    newest_stamp: int = 0                                      # newest stamp published
    # (arrival, stamp, state, processing ms, counters (received, processed, dropped, rejected))
    statuses: list[tuple[int, int, int, float, tuple[int, int, int, int]]] = field(
        default_factory=list)
    detections: list[tuple[int, int, int]] = field(default_factory=list)  # arrival, stamp, newest


class _Camera:
    """Pre-rendered frames as Image messages, so publishing costs no rendering time.

    The target goes round its path once in `loop` camera frames, whatever the rate: a target
    as fast as the camera is slow would be lost by a tracker that drops most frames, and then
    no detection would come back to measure the lag on. `sequence`'s frames are spread evenly
    over the loop (shown several times each when the loop is longer), which bounds the memory.
    """

    def __init__(self, sequence: Any, loop: int) -> None:
        from deeptrack_ros.ros.conversions import array_to_image

        self.sequence = sequence
        self.loop = loop
        self.messages = [array_to_image(sequence.frame(i), 'rgb8') for i in range(len(sequence))]
        for msg in self.messages:
            msg.header.frame_id = 'camera'

    def _rendered(self, index: int) -> int:
        return (index % self.loop) * len(self.messages) // self.loop

    def frame(self, index: int) -> Any:
        return self.messages[self._rendered(index)]

    def box(self, index: int) -> tuple[float, float, float, float]:
        return self.sequence.box(self._rendered(index))


class _BenchNode:
    """The camera and the user: image and init publishers, detection and status listeners."""

    def __init__(self, context: Any, namespace: str, node_name: str) -> None:
        import rclpy
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2D

        from deeptrack_ros.msg import TrackStatus

        base = f'{namespace}/{node_name}'
        self.node = rclpy.create_node('deeptrack_bench_camera', namespace=namespace,
                                      context=context)
        self.record = _Record()
        camera_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                reliability=ReliabilityPolicy.BEST_EFFORT)
        # Deep reliable queues for what comes back: a status lost here would be a gap in the
        # figures, not something the node did.
        deep = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.images = self.node.create_publisher(Image, f'{namespace}/image', camera_qos)
        self.inits = self.node.create_publisher(Detection2D, f'{base}/init', deep)
        self.status_topic = f'{base}/status'
        self.detection_topic = f'{base}/detection'
        self.node.create_subscription(TrackStatus, self.status_topic, self._on_status, deep)
        self.node.create_subscription(Detection2D, self.detection_topic, self._on_detection,
                                      deep)

    def _on_status(self, msg: Any) -> None:
        from deeptrack_ros.ros.conversions import stamp_to_ns

        arrival = time.perf_counter_ns()
        counters = (int(msg.frames_received), int(msg.frames_processed),
                    int(msg.frames_dropped), int(msg.frames_rejected))
        with self.record.lock:
            self.record.statuses.append((arrival, stamp_to_ns(msg.header.stamp), int(msg.state),
                                         float(msg.processing_time_ms), counters))

    def _on_detection(self, msg: Any) -> None:
        from deeptrack_ros.ros.conversions import stamp_to_ns

        arrival = time.perf_counter_ns()
        newest = self.record.newest_stamp
        with self.record.lock:
            self.record.detections.append((arrival, stamp_to_ns(msg.header.stamp), newest))

    def connected(self) -> bool:
        return (self.images.get_subscription_count() > 0
                and self.inits.get_subscription_count() > 0
                and self.node.count_publishers(self.status_topic) > 0
                and self.node.count_publishers(self.detection_topic) > 0)

    def publish_image(self, msg: Any) -> int:
        """Stamp `msg` with the wall clock, publish it, and return the stamp (ns)."""
        from builtin_interfaces.msg import Time

        now = time.time_ns()
        msg.header.stamp = Time(sec=now // 1_000_000_000, nanosec=now % 1_000_000_000)
        published = time.perf_counter_ns()
        with self.record.lock:
            self.record.published[now] = published
        self.record.newest_stamp = now  # before publishing: the image exists from now on
        self.images.publish(msg)
        return now

    def send_init(self, stamp_ns: int, box: tuple[float, float, float, float]) -> None:
        from builtin_interfaces.msg import Time
        from vision_msgs.msg import Detection2D

        x, y, w, h = box
        msg = Detection2D()
        msg.header.stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        msg.header.frame_id = 'camera'
        msg.bbox.center.position.x = x + w / 2.0
        msg.bbox.center.position.y = y + h / 2.0
        msg.bbox.size_x, msg.bbox.size_y = float(w), float(h)
        self.inits.publish(msg)

    def status_states(self, stamp_ns: int) -> list[int]:
        """States of the statuses received for the frame stamped `stamp_ns`, in order."""
        with self.record.lock:
            return [state for _, stamp, state, _, _ in self.record.statuses if stamp == stamp_ns]


class _Spinner:
    """One executor spinning one node in a daemon thread; keeps the error that ended it."""

    def __init__(self, node: Any, context: Any) -> None:
        from rclpy.executors import SingleThreadedExecutor

        self.error: BaseException | None = None
        self._running = True
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(node)
        self._thread = threading.Thread(target=self._spin, name=f'spin_{node.get_name()}',
                                        daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self._running:
            try:
                self._executor.spin_once(timeout_sec=0.05)
            except Exception as exc:  # noqa: BLE001 - reported to the waiting thread
                if self._running:
                    self.error = exc
                return

    def stop(self) -> None:
        self._running = False
        self._thread.join(5.0)
        self._executor.shutdown(timeout_sec=1.0)


def _wait(condition: Callable[[], bool], timeout: float, what: str,
          failed: Callable[[], BaseException | None]) -> None:
    """Poll `condition` until true; RuntimeError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        error = failed()
        if error is not None:
            raise RuntimeError(f'an executor failed while waiting for {what}') from error
        if time.monotonic() > deadline:
            raise RuntimeError(f'timed out after {timeout:g} s waiting for {what}')
        time.sleep(0.01)


def _run(bench: _BenchNode, camera: _Camera, rate_hz: float, seconds: float,
         failed: Callable[[], BaseException | None],
         node_counters: Callable[[], Any]) -> NodeBenchResult:
    """Steps 1 to 4 of the module docstring; then the figures.

    `node_counters` reads the node's frame counters in this process (`BufferCounters`); only
    the drain uses them, to know when the worker is done.
    """
    record = bench.record
    _wait(bench.connected, CONNECT_TIMEOUT_S, 'the tracker node\'s endpoints', failed)
    time.sleep(0.3)  # both sides of a match see each other a moment apart

    # 1. One frame whose status comes back: the image path works end to end. Resent now and
    #    then, since a best-effort frame sent just before the match completed is simply lost.
    deadline = time.monotonic() + FIRST_STATUS_TIMEOUT_S
    first = None
    while first is None:
        stamp = bench.publish_image(camera.frame(0))
        try:
            _wait(lambda: bool(bench.status_states(stamp)), 1.0, 'the first status', failed)
            first = stamp
        except RuntimeError:
            if failed() is not None or time.monotonic() > deadline:
                raise

    # 2. Initialise on that frame (the node finds it by stamp in its history).
    bench.send_init(first, camera.box(0))
    _wait(lambda: any(s != STATE_IDLE for s in bench.status_states(first)), INIT_TIMEOUT_S,
          'the initialisation', failed)
    if bench.status_states(first)[-1] == STATE_FAILED:
        raise RuntimeError('the tracker node failed to initialise (see its log)')

    # 3. The camera. Late by more than a period (this thread was starved), it goes on from
    #    now rather than sending the missed frames in a burst, as a camera would.
    period_ns = 1e9 / rate_hz
    frames = max(1, int(round(seconds * rate_hz)))
    start = time.perf_counter_ns()
    due = float(start)
    for index in range(1, frames + 1):
        now = time.perf_counter_ns()
        if now < due:
            time.sleep((due - now) / 1e9)
        elif now > due + period_ns:
            due = float(now)
        bench.publish_image(camera.frame(index))
        due += period_ns
        error = failed()
        if error is not None:
            raise RuntimeError('an executor failed during the camera phase') from error
    end = time.perf_counter_ns()
    camera_seconds = (end - start) / 1e9 + 1.0 / rate_hz  # the last frame's period included

    # 4. Drain: nothing waiting in the node or taken and unsettled, and the status of the last
    #    frame it processed is here. A frame processed after that status would have a later
    #    one, and no frame is dropped without a newer one to process.
    def drained() -> bool:
        if (time.perf_counter_ns() - end) / 1e9 < DRAIN_SETTLE_S:
            return False
        counters = node_counters()
        with record.lock:
            processed = record.statuses[-1][4][1] if record.statuses else -1
        return counters.pending == 0 and processed == counters.processed

    _wait(drained, DRAIN_TIMEOUT_S, 'the node to finish its last frame', failed)
    time.sleep(0.2)  # a detection published with the last status
    warmup = min(WARMUP_S, seconds / 3.0)
    return _figures(record, rate_hz, camera_seconds, start + int(warmup * 1e9), end)


def _figures(record: _Record, rate_hz: float, seconds: float, measured_from: int,
             camera_end: int) -> NodeBenchResult:
    """The result from what the bench node recorded (see the module docstring)."""
    with record.lock:
        published = dict(record.published)
        statuses = list(record.statuses)
        detections = list(record.detections)
    received, processed, dropped, rejected = statuses[-1][4] if statuses else (0, 0, 0, 0)
    overheads, tracker_ms = [], []
    for arrival, stamp, _, processing_ms, _ in statuses:
        sent = published.get(stamp)
        if sent is not None and sent >= measured_from:
            overheads.append((arrival - sent) / 1e6 - processing_ms)
            tracker_ms.append(processing_ms)
    period_ns = 1e9 / rate_hz
    order = {stamp: index for index, stamp in enumerate(sorted(published))}

    def images_behind(stamp: int, newest: int) -> float:
        if stamp in order and newest in order:
            return float(order[newest] - order[stamp])
        return (newest - stamp) / period_ns  # an image the record does not hold: by time

    lags = [images_behind(stamp, newest) for arrival, stamp, newest in detections
            if measured_from <= arrival <= camera_end]
    return NodeBenchResult(
        rate_hz=float(rate_hz), seconds=float(seconds), published=len(published),
        received=received, processed=processed, dropped=dropped, rejected=rejected,
        detections=len(detections),
        overhead_ms_median=_statistic(np.median, overheads),
        overhead_ms_p95=_statistic(lambda v: np.percentile(v, 95), overheads),
        tracker_ms_median=_statistic(np.median, tracker_ms),
        lag_frames_median=_statistic(np.median, lags),
        lag_frames_p95=_statistic(lambda v: np.percentile(v, 95), lags),
        lag_frames_max=_statistic(np.max, lags),
        lag_within_goal=_statistic(lambda v: np.mean(v <= LAG_GOAL_FRAMES), lags))


def _statistic(function: Callable[[Any], Any], values: list[float]) -> float:
    return float(function(np.asarray(values, dtype=np.float64))) if values else math.nan


def _ms(value: float) -> str:
    return _number(value, 'ms')


def _percent(share: float) -> str:
    """Whole per cent, but never rounded up to 100 (or down to 0) when it is not."""
    if not math.isfinite(share):
        return 'n/a'
    if 0.995 <= share < 1.0 or 0.0 < share < 0.005:
        return f'{100.0 * share:.1f} %'
    return f'{100.0 * share:.0f} %'


def _number(value: float, unit: str) -> str:
    return 'n/a' if not math.isfinite(value) else f'{value:.1f} {unit}'


# --- command line -----------------------------------------------------------------------------


def parse_setting(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` with VALUE as a Python literal where it is one (200, 0.3, 0.1,0.15),
    true/false as booleans (as in ROS parameter files), otherwise the text itself."""
    key, sep, raw = text.partition('=')
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise ValueError(f'--set expects KEY=VALUE, got {text!r}')
    if raw.lower() in ('true', 'false'):
        return key, raw.lower() == 'true'
    try:
        return key, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return key, raw


def main(argv: list[str] | None = None) -> int:
    """`python -m deeptrack_ros.ros.node_bench`: run the benchmark and print its lines."""
    parser = argparse.ArgumentParser(
        prog='python -m deeptrack_ros.ros.node_bench',
        description="Measure the tracker node's own overhead and its lag under a fast camera.")
    parser.add_argument('--rate', type=float, default=60.0, help='camera rate, Hz (60)')
    parser.add_argument('--seconds', type=float, default=10.0,
                        help='how long the camera publishes, s (10)')
    parser.add_argument('--mode', default=DEFAULT_MODE, help=f'preset ({DEFAULT_MODE})')
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        help='a TrackerConfig field, e.g. num_particles=300 (repeatable)')
    parser.add_argument('--size', default='320x240', help='frame size WxH (320x240)')
    parser.add_argument('--device', default='cpu', help='torch device of the node (cpu)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the node and video (0)')
    parser.add_argument('--max-lag-periods', type=float, default=None, metavar='N',
                        help="the node's lag budget in camera periods (its default, 2; 0 off)")
    args = parser.parse_args(argv)
    width, height = frame_size(parser, args.size)
    try:
        settings = dict(parse_setting(item) for item in args.set)
        config = TrackerConfig.from_mapping({'mode': args.mode, **settings})
    except ValueError as exc:
        parser.error(str(exc))
    try:
        result = run_node_benchmark(config, rate_hz=args.rate, seconds=args.seconds,
                                    image_size=(width, height), seed=args.seed,
                                    device=args.device, max_lag_periods=args.max_lag_periods)
    except KeyboardInterrupt:
        print('\nnode benchmark interrupted', file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as exc:
        print(f'node benchmark: {exc}', file=sys.stderr)
        return 1
    print('\n'.join(result.lines()), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
