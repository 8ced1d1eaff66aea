"""Soak run: many generated frames through a real tracker node, watching memory and counts.

    python -m deeptrack_ros.ros.soak --frames 20000          # about 9 minutes at 40 Hz
    python -m deeptrack_ros.ros.soak --frames 2000 --rate 100 -p num_particles:=200

Why: a tracker on a robot runs for hours, and a leak of a few kilobytes per frame, a sample
pool that grows without bound, or frames that vanish without being counted show only after
thousands of frames. The soak starts the node as its own process (exactly what
`deeptrack-node` runs), publishes generated 160x120 frames at a fixed rate like a camera (the
node drops what it cannot keep up with, as it must), re-initialises the track every
`--reinit-every` frames after the warm-up (a new tracker, the old one released), slips in a
malformed frame now and then, and reads back every status and detection and the
node's /diagnostics. At the end it prints:

- the node process's resident memory (RSS, from /proc) after the warm-up and at the end, the
  growth in MB, and samples along the way. The warm-up lasts at least `--warmup` frames and
  until every sample pool has been full once: the pools are fixed-capacity rings, but the
  memory of their unused slots may be committed only as they fill, and that is bounded growth,
  not a leak. If the pools are still not full at 60% of the frames (a slow tracker), the
  warm-up ends there and the summary says so;
- the sample pools' fill and capacity (from /diagnostics; the pools are fixed-size rings);
- frames published, received, processed, dropped and rejected, and whether
  received = processed + dropped + rejected, whether one status came back per processed frame
  and one Detection2D per TRACKING status.

Each `~/init` carries a stamp that names no frame, so the node applies it to the next frame
that arrives; an init on a frame from the node's history would publish a second status for a
frame already counted, and the one-status-per-frame check could not be exact.

Exit status 0 when memory grew less than `--max-growth-mb` (50) after the warm-up, the pools
stayed within their capacity, every count adds up and the node lived to the end; 1 otherwise;
2 for bad arguments. The image QoS is reliable with depth 100 on both sides, so that no frame
is lost in transport and every frame published is one the node counted.

The node runs the shipped tracker parameters except `torch_threads` (1, so that the soak
leaves a core to the driver on a small machine) and those given with `-p`.

Network: its own domain (a random ROS_DOMAIN_ID unless one is set) and localhost-only
discovery unless ROS_AUTOMATIC_DISCOVERY_RANGE is set, as the demo does.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from deeptrack_ros.ros.cli_args import frame_size, node_parameter_pairs

BOOTSTRAP_MARKER = '_ROS_WHEELS_BOOTSTRAP_COMPLETE'
NAMESPACE = '/deeptrack_soak'
SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]
LOOPBACK_PROFILE = SOURCE_ROOT / 'config' / 'fastdds_loopback.xml'


@dataclass
class SoakOptions:
    """What to run; the defaults are those of the command line."""

    frames: int = 20000
    rate: float = 40.0
    size: tuple[int, int] = (160, 120)
    warmup: int | None = None  # frames; default a tenth of --frames, at most 2000
    reinit_every: int = 4000
    bad_every: int = 1000
    parameters: dict[str, str] = field(default_factory=dict)
    max_growth_mb: float = 50.0
    startup_timeout: float = 90.0
    init_timeout: float = 300.0
    drain_timeout: float = 120.0
    namespace: str = NAMESPACE
    progress: bool = True

    @property
    def warmup_frames(self) -> int:
        if self.warmup is not None:
            return min(self.warmup, self.frames)
        return min(2000, max(1, self.frames // 10))


@dataclass
class SoakReport:
    """The figures of one soak run (the command prints them; the tests assert on them)."""

    frames: int = 0
    published: int = 0
    received: int = 0
    processed: int = 0
    dropped: int = 0
    rejected: int = 0
    statuses: int = 0
    detections: int = 0
    tracking: int = 0
    lost: int = 0
    failed: int = 0
    idle: int = 0
    inits: int = 0
    rss_warmup_mb: float | None = None
    warmup_end: int | None = None  # frames published when the warm-up ended
    warmup_pools_full: bool = False
    rss_end_mb: float | None = None
    rss_samples: list[tuple[int, float]] = field(default_factory=list)
    pools: dict[str, tuple[int, int]] = field(default_factory=dict)
    pools_peak: dict[str, tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0
    node_alive: bool = True
    node_exit: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def growth_mb(self) -> float | None:
        if self.rss_warmup_mb is None or self.rss_end_mb is None:
            return None
        return self.rss_end_mb - self.rss_warmup_mb

    @property
    def counts_add_up(self) -> bool:
        return self.received == self.processed + self.dropped + self.rejected

    @property
    def one_status_per_processed_frame(self) -> bool:
        return self.statuses == self.processed

    @property
    def one_detection_per_tracked_frame(self) -> bool:
        return self.detections == self.tracking

    @property
    def pools_bounded(self) -> bool:
        """No pool ever held more than its capacity (in any /diagnostics report)."""
        return all(size <= capacity for pools in (self.pools, self.pools_peak)
                   for size, capacity in pools.values())

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_args(argv: list[str] | None) -> SoakOptions:
    parser = argparse.ArgumentParser(
        prog='python -m deeptrack_ros.ros.soak',
        description='Push generated frames through a tracker node and report memory, sample '
        'pools and frame counts.')
    parser.add_argument('--frames', type=int, default=20000, help='frames to publish (20000)')
    parser.add_argument('--rate', type=float, default=40.0, help='publishing rate, Hz (40)')
    parser.add_argument('--size', default='160x120', help='frame size WxH (160x120)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='frames at least before the reference RSS, which also waits for '
                        'the pools to fill (a tenth, at most 2000)')
    parser.add_argument('--reinit-every', type=int, default=4000,
                        help='send a new ~/init every N frames after the warm-up, 0 never '
                        '(4000)')
    parser.add_argument('--bad-every', type=int, default=1000,
                        help='publish a malformed frame every N frames, 0 never (1000)')
    parser.add_argument('-p', '--param', action='append', default=[], metavar='NAME:=VALUE',
                        help='node parameter, as with --ros-args -p (repeatable)')
    parser.add_argument('--max-growth-mb', type=float, default=50.0,
                        help='RSS growth after the warm-up that fails the run (50)')
    parser.add_argument('--json', action='store_true', help='also print the report as JSON')
    args = parser.parse_args(argv)
    width, height = frame_size(parser, args.size, minimum=16)
    if args.frames < 2 or args.rate <= 0:
        parser.error('--frames must be at least 2 and --rate positive')
    parameters = node_parameter_pairs(parser, args.param)
    options = SoakOptions(frames=args.frames, rate=args.rate, size=(width, height),
                          warmup=args.warmup, reinit_every=args.reinit_every,
                          bad_every=args.bad_every, parameters=parameters,
                          max_growth_mb=args.max_growth_mb)
    options.json = args.json  # type: ignore[attr-defined]
    return options


def prepare_environment() -> None:
    """A private network for the run unless the user chose one (see the module docstring)."""
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    if 'ROS_DOMAIN_ID' not in os.environ:
        os.environ['ROS_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 101))
    if LOOPBACK_PROFILE.is_file():
        os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(LOOPBACK_PROFILE))


def node_environment() -> dict[str, str]:
    """The child's environment: its own library bootstrap, and this very source tree first,
    so the node that is soaked is the code that is running here."""
    env = dict(os.environ)
    env.pop(BOOTSTRAP_MARKER, None)
    paths = [str(SOURCE_ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p]
    env['PYTHONPATH'] = os.pathsep.join(paths)
    env['PYTHONUNBUFFERED'] = '1'
    return env


def node_arguments(options: SoakOptions) -> list[str]:
    values = {'reliability': 'reliable', 'qos_depth': '100', 'diagnostics_period': '0.5',
              'torch_threads': '1', **options.parameters}
    args = ['--ros-args', '-r', f'__ns:={options.namespace}']
    for name, value in values.items():
        args += ['-p', f'{name}:={value}']
    return args


class Driver:
    """Camera, init sender and listener of one node, in one rclpy node spun in a thread.

    Only counts are kept (never the messages), so the driver's own memory stays flat.
    """

    def __init__(self, context: Any, namespace: str) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2D

        from deeptrack_ros.msg import TrackStatus

        self.base = f'{namespace}/tracker_node'
        self.node = rclpy.create_node('deeptrack_soak_driver', context=context)
        # Deep queues on both sides: a stall of the node's executor of a second or two (a
        # loaded machine) must not lose frames in transport, which the node could not count.
        deep = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.images = self.node.create_publisher(Image, f'{namespace}/image', deep)
        self.inits = self.node.create_publisher(Detection2D, f'{self.base}/init', deep)
        self.node.create_subscription(TrackStatus, f'{self.base}/status', self._on_status, deep)
        self.node.create_subscription(Detection2D, f'{self.base}/detection',
                                      self._on_detection, deep)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics,
                                      deep)
        self.lock = threading.Lock()
        self.states = [0, 0, 0, 0]  # idle, tracking, lost, failed
        self.detections = 0
        self.last_values: dict[str, str] = {}
        self.pools_peak: dict[str, tuple[int, int]] = {}
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._running = True
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self._running:
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - the context is shutting down
                if self._running:
                    raise
                return

    def _on_status(self, msg: Any) -> None:
        with self.lock:
            if 0 <= msg.state < len(self.states):
                self.states[msg.state] += 1

    def _on_detection(self, msg: Any) -> None:
        with self.lock:
            self.detections += 1

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.startswith(self.base):
                values = {kv.key: kv.value for kv in status.values}
                with self.lock:
                    self.last_values = values
                    for name, (size, capacity) in _pools(values).items():
                        peak = self.pools_peak.get(name, (0, capacity))
                        self.pools_peak[name] = (max(size, peak[0]), max(capacity, peak[1]))

    def statuses(self, *states: int) -> int:
        """Statuses received so far (of the given states only, when any are given)."""
        with self.lock:
            return sum(n for state, n in enumerate(self.states) if not states or state in states)

    def diagnostics(self) -> dict[str, str]:
        with self.lock:
            return dict(self.last_values)

    def pools_full(self) -> bool:
        """Every sample pool has been at its capacity in some report."""
        with self.lock:
            peaks = list(self.pools_peak.values())
        return bool(peaks) and all(size >= capacity for size, capacity in peaks)

    def connected(self) -> bool:
        return (self.images.get_subscription_count() > 0
                and self.inits.get_subscription_count() > 0
                and self.node.count_publishers(f'{self.base}/status') > 0)

    def close(self) -> None:
        self._running = False
        self._thread.join(5.0)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()


def _wait(condition: Any, timeout: float, alive: Any) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline or not alive():
            return condition()
        time.sleep(0.02)
    return True


def _init_message(header: Any, box: tuple[float, float, float, float]) -> Any:
    from vision_msgs.msg import Detection2D

    x, y, w, h = box
    msg = Detection2D()
    msg.header = header
    msg.bbox.center.position.x = x + w / 2.0
    msg.bbox.center.position.y = y + h / 2.0
    msg.bbox.size_x, msg.bbox.size_y = float(w), float(h)
    return msg


def _pools(values: dict[str, str]) -> dict[str, tuple[int, int]]:
    pools = {}
    for key, value in values.items():
        if key.endswith('_pool') and '/' in value:
            size, capacity = value.split('/', 1)
            pools[key[:-len('_pool')]] = (int(size), int(capacity))
    return pools


def run(options: SoakOptions, log: Any = None) -> SoakReport:
    """Start a node, soak it, stop it; return the report (see the module docstring)."""
    import rclpy
    from rclpy.context import Context
    from std_msgs.msg import Header

    from deeptrack_ros.ros.conversions import array_to_image
    from deeptrack_ros.ros.diagnostics import resident_memory_mb
    from deeptrack_ros.ros.synthetic import SyntheticSequence

    say = print if options.progress else (lambda *a, **k: None)
    report = SoakReport(frames=options.frames)
    sequence = SyntheticSequence(count=300, size=options.size, seed=7)
    messages = [array_to_image(sequence.frame(i), 'rgb8') for i in range(len(sequence))]
    bad = array_to_image(sequence.frame(0), 'rgb8')
    bad.data = bytes(len(bad.data) - 3)  # data length != step * height: rejected

    own_log = log is None
    log = tempfile.TemporaryFile(mode='w+') if own_log else log
    command = [sys.executable, '-m', 'deeptrack_ros.ros.main', *node_arguments(options)]
    node = subprocess.Popen(command, env=node_environment(), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    alive = lambda: node.poll() is None  # noqa: E731
    context = Context()
    rclpy.init(context=context)
    driver = None
    started = time.monotonic()
    try:
        driver = Driver(context, options.namespace)
        if not _wait(driver.connected, options.startup_timeout, alive):
            report.problems.append('the node did not come up' if alive() else
                                   'the node died at start-up')
            return report
        time.sleep(0.5)  # both sides of every match are known now
        clock = driver.node.get_clock()

        def publish(index: int) -> Any:
            msg = messages[index % len(messages)]
            msg.header.stamp = clock.now().to_msg()
            driver.images.publish(msg)
            report.published += 1
            return msg.header

        def initialise(index: int) -> None:
            """The box of frame `index`, for the next frame (see the module docstring)."""
            header = Header(stamp=clock.now().to_msg())  # names no frame
            driver.inits.publish(_init_message(header, sequence.box(index % len(sequence))))
            report.inits += 1

        publish(0)
        if not _wait(lambda: driver.statuses() >= 1, 30.0, alive):
            report.problems.append('no status came back for the first frame')
            return report
        initialise(1)
        time.sleep(0.3)  # the init first, then the frame it applies to
        publish(1)
        say(f'soak: node pid {node.pid}, {options.frames} frames of {options.size[0]}x'
            f'{options.size[1]} at {options.rate:g} Hz; initialising...', flush=True)
        if not _wait(lambda: driver.statuses(1, 2, 3) >= 1, options.init_timeout, alive):
            report.problems.append('the first initialisation did not finish')
            return report

        period = 1.0 / options.rate
        next_at = time.monotonic()
        sample_every = max(1, options.frames // 10)
        for index in range(2, options.frames):
            if options.bad_every and index % options.bad_every == 0:
                bad.header.stamp = clock.now().to_msg()
                driver.images.publish(bad)
                report.published += 1
            else:
                publish(index)
            end = report.warmup_end
            if (end is not None and options.reinit_every and index > end
                    and (index - end) % options.reinit_every == 0):
                initialise(index + 1)
            if end is None and index + 1 >= options.warmup_frames:
                full = driver.pools_full()
                if full or index + 1 >= 0.6 * options.frames:
                    report.warmup_end, report.warmup_pools_full = index + 1, full
                    report.rss_warmup_mb = resident_memory_mb(node.pid)
                    say(f'  warm-up done at frame {index + 1} ('
                        f'{"pools full" if full else "pools still not full"}): RSS '
                        f'{report.rss_warmup_mb or 0.0:.1f} MB', flush=True)
            if (index + 1) % sample_every == 0:
                rss = resident_memory_mb(node.pid)
                if rss is not None:
                    report.rss_samples.append((index + 1, round(rss, 1)))
                values = driver.diagnostics()
                say(f'  frame {index + 1}: RSS {rss or 0.0:.1f} MB, processed '
                    f'{values.get("frames_processed", "?")}, dropped '
                    f'{values.get("frames_dropped", "?")}, pools '
                    f'{values.get("positive_pool", "?")} / {values.get("negative_pool", "?")}',
                    flush=True)
            if not alive():
                report.problems.append(f'the node died at frame {index}')
                return report
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:
                next_at = time.monotonic()  # far behind: do not burst to catch up

        progress = {'received': -1, 'since': time.monotonic()}

        def drained() -> bool:
            """Every frame accounted for: all arrived, or none arrived for 3 s (a loss in
            transport, reported below), and the node's counts add up (its worker is idle)."""
            values = driver.diagnostics()
            try:
                received, processed, dropped, rejected = (int(values[f'frames_{k}']) for k in (
                    'received', 'processed', 'dropped', 'rejected'))
            except (KeyError, ValueError):
                return False
            if received != progress['received']:
                progress.update(received=received, since=time.monotonic())
            arrived = (received == report.published
                       or time.monotonic() - progress['since'] > 3.0)
            return arrived and received == processed + dropped + rejected

        if not _wait(drained, options.drain_timeout, alive):
            report.problems.append('the node did not account for every frame in time')
        time.sleep(1.0)  # the last statuses and a fresh diagnostics report
        report.rss_end_mb = resident_memory_mb(node.pid)
        values = driver.diagnostics()
        report.received = int(values.get('frames_received', 0))
        report.processed = int(values.get('frames_processed', 0))
        report.dropped = int(values.get('frames_dropped', 0))
        report.rejected = int(values.get('frames_rejected', 0))
        report.pools = _pools(values)
        with driver.lock:
            report.idle, report.tracking, report.lost, report.failed = driver.states
            report.detections = driver.detections
            report.pools_peak = dict(driver.pools_peak)
        report.statuses = report.idle + report.tracking + report.lost + report.failed
    finally:
        report.seconds = time.monotonic() - started
        report.node_alive = alive()
        if driver is not None:
            driver.close()
        context.try_shutdown()
        report.node_exit = stop_node(node)
        if report.problems and own_log:
            log.seek(0)
            tail = log.read()[-3000:]
            report.problems.append(f'node output (tail):\n{tail}')
        if own_log:
            log.close()
    _check(report, options)
    return report


def _check(report: SoakReport, options: SoakOptions) -> None:
    """Add a problem for every figure out of bounds (see the module docstring)."""
    if report.growth_mb is None:
        report.problems.append('resident memory could not be read (no /proc?)')
    elif report.growth_mb >= options.max_growth_mb:
        report.problems.append(f'RSS grew {report.growth_mb:.1f} MB after the warm-up '
                               f'(limit {options.max_growth_mb:g})')
    if not report.pools:
        report.problems.append('no sample pool sizes in /diagnostics')
    elif not report.pools_bounded:
        report.problems.append(f'a sample pool exceeds its capacity: {report.pools}')
    if report.received != report.published:
        report.problems.append(f'{report.published - report.received} frames published but '
                               'never received')
    if not report.counts_add_up:
        report.problems.append('received != processed + dropped + rejected')
    if not report.one_status_per_processed_frame:
        report.problems.append(f'{report.statuses} statuses for {report.processed} processed '
                               'frames')
    if not report.one_detection_per_tracked_frame:
        report.problems.append(f'{report.detections} detections for {report.tracking} '
                               'TRACKING statuses')
    if report.node_exit not in (0, None):
        report.problems.append(f'the node exited with {report.node_exit} after SIGINT')
    if not report.node_alive:
        report.problems.append('the node was not alive at the end')


def stop_node(node: subprocess.Popen) -> int | None:
    """SIGINT, as Ctrl-C would; kill only if it is ignored. Returns the exit code."""
    if node.poll() is not None:
        return node.returncode
    node.send_signal(signal.SIGINT)
    try:
        return node.wait(10)
    except subprocess.TimeoutExpired:
        node.kill()
        node.wait(5)
        return None


def format_report(report: SoakReport, options: SoakOptions) -> str:
    """The human-readable summary the command prints."""
    def mb(value: float | None) -> str:
        return '?' if value is None else f'{value:.1f} MB'

    growth = report.growth_mb
    lines = [
        'soak summary',
        f'  frames            {report.frames} of {options.size[0]}x{options.size[1]} at '
        f'{options.rate:g} Hz in {report.seconds:.0f} s',
        f'  RSS (node)        after warm-up (frame {report.warmup_end}, '
        f'{"pools full" if report.warmup_pools_full else "POOLS NOT YET FULL"}) '
        f'{mb(report.rss_warmup_mb)}, at the end {mb(report.rss_end_mb)}, growth '
        f'{"?" if growth is None else f"{growth:+.1f} MB"} (limit {options.max_growth_mb:g})',
        f'  RSS samples       {", ".join(f"{n}: {v:.1f}" for n, v in report.rss_samples)}',
        f'  sample pools      at the end {_pools_text(report.pools)}; fullest '
        f'{_pools_text(report.pools_peak)} (size/capacity; bounded: '
        f'{_yes(report.pools_bounded)})',
        f'  frames            published {report.published}, received {report.received}, '
        f'processed {report.processed}, dropped {report.dropped}, rejected {report.rejected}; '
        f'received = processed + dropped + rejected: {_yes(report.counts_add_up)}',
        f'  outputs           statuses {report.statuses} (tracking {report.tracking}, lost '
        f'{report.lost}, failed {report.failed}, idle {report.idle}) = processed: '
        f'{_yes(report.one_status_per_processed_frame)}; detections {report.detections} = '
        f'tracking statuses: {_yes(report.one_detection_per_tracked_frame)}; '
        f'{report.inits} inits',
        f'  node              exit code {report.node_exit} after SIGINT',
        f'  result            {"OK" if report.ok else "FAILED"}',
    ]
    lines += [f'  problem: {problem}' for problem in report.problems]
    return '\n'.join(lines)


def _pools_text(pools: dict[str, tuple[int, int]]) -> str:
    return ', '.join(f'{name} {size}/{capacity}'
                     for name, (size, capacity) in sorted(pools.items(), reverse=True)) or '?'


def _yes(flag: bool) -> str:
    return 'yes' if flag else 'NO'


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the soak, print the summary; 0 when every check passed."""
    options = parse_args(argv)
    prepare_environment()
    try:
        report = run(options)
    except KeyboardInterrupt:
        print('\nsoak interrupted', file=sys.stderr)
        return 1
    print(format_report(report, options), flush=True)
    if getattr(options, 'json', False):
        figures = asdict(report)
        figures.update(growth_mb=report.growth_mb, ok=report.ok)
        print(json.dumps(figures))
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
