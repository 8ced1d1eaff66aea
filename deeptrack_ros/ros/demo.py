"""`deeptrack-demo` (`make demo`): the tracker node on a generated video, end to end over DDS.

What it does, like a user's system would:
1. generates a synthetic sequence (synthetic.py: a textured target moving and scaling over a
   textured background, 150 frames of 320x240 by default) whose true boxes are known;
2. starts the node as its own process (`deeptrack-node --ros-args ...`), remapping its `image`
   subscription to the demo's camera topic and asking for reliable QoS;
3. publishes frame 0, then a vision_msgs/Detection2D init box stamped with frame 0, waits for
   the initialisation, then publishes the other frames at `--rate` Hz like a camera (the node
   drops what it cannot keep up with; `--lockstep` sends each frame only after the previous
   one's status, to see the tracker's accuracy without drops);
4. prints one line per status received (frame, state, box, confidence, Q, IoU with the truth)
   and a summary: frames sent, statuses and detections received, mean IoU, fps;
5. stops the node with SIGINT.

Exit status: 0 when the node ran to the end and sent detections back, 1 when it died, never
connected or nothing came back, 2 for bad arguments.

The demo uses its own domain (a random ROS_DOMAIN_ID unless one is set) and localhost-only
discovery unless ROS_AUTOMATIC_DISCOVERY_RANGE is set, so it never talks to a robot nearby.
Tracker parameters: `DEMO_PARAMETERS` below make the node quicker than the shipped defaults,
so the demo is brief on a laptop CPU; `--defaults` runs the shipped configuration, and
`-p name:=value` (repeatable) overrides single parameters.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deeptrack_ros.ros.cli_args import frame_size, node_parameter_pairs

DEMO_PARAMETERS = {
    'num_particles': '500',
    'first_frame_iterations': '50',
    'max_update_iterations': '3',
}
NAMESPACE = '/deeptrack_demo'
CAMERA_TOPIC = f'{NAMESPACE}/camera/image_raw'
NODE_BASE = f'{NAMESPACE}/tracker_node'
BOOTSTRAP_MARKER = '_ROS_WHEELS_BOOTSTRAP_COMPLETE'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='deeptrack-demo', description='Run the DeepTrack node on a generated video.')
    parser.add_argument('--frames', type=int, default=150, help='frames to send (150)')
    parser.add_argument('--size', default='320x240', help='frame size WxH (320x240)')
    parser.add_argument('--rate', type=float, default=15.0, help='camera rate in Hz (15)')
    parser.add_argument('--lockstep', action='store_true',
                        help='send each frame after the previous status (no drops)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the generated video')
    parser.add_argument('--defaults', action='store_true',
                        help="use the node's shipped tracker parameters, not the demo's")
    parser.add_argument('-p', '--param', action='append', default=[], metavar='NAME:=VALUE',
                        help='node parameter, as with --ros-args -p (repeatable)')
    parser.add_argument('--startup-timeout', type=float, default=90.0,
                        help='seconds to wait for the node to come up (90)')
    parser.add_argument('--init-timeout', type=float, default=300.0,
                        help='seconds to wait for the initialisation (300)')
    parser.add_argument('--quiet', action='store_true', help='summary only')
    args = parser.parse_args(argv)
    args.width, args.height = frame_size(parser, args.size)
    if args.frames < 2 or args.rate <= 0:
        parser.error('--frames must be at least 2 and --rate positive')
    args.parameters = node_parameter_pairs(parser, args.param)
    return args


def node_command() -> list[str]:
    """The node's console script beside this interpreter, else the module."""
    script = pathlib.Path(sys.executable).parent / 'deeptrack-node'
    if script.exists():
        return [str(script)]
    found = shutil.which('deeptrack-node')
    return [found] if found else [sys.executable, '-m', 'deeptrack_ros.ros.main']


def node_parameters(args: argparse.Namespace) -> list[str]:
    values = {} if args.defaults else dict(DEMO_PARAMETERS)
    values.update({'reliability': 'reliable', 'qos_depth': '1'})
    values.update(args.parameters)
    return [arg for name, value in values.items() for arg in ('-p', f'{name}:={value}')]


def prepare_environment() -> None:
    """A private demo network unless the user chose one (see the module docstring)."""
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    if 'ROS_DOMAIN_ID' not in os.environ:
        os.environ['ROS_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 101))


@dataclass
class Tally:
    """What came back from the node, filled by subscription callbacks."""

    statuses: dict[int, Any] = field(default_factory=dict)  # frame index -> TrackStatus
    detections: dict[int, Any] = field(default_factory=dict)  # frame index -> Detection2D
    lock: threading.Lock = field(default_factory=threading.Lock)


class Demo:
    """The demo's ROS side: camera and init publishers, status and detection subscribers."""

    def __init__(self, args: argparse.Namespace, sequence: Any) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2D

        from deeptrack_ros.msg import TrackStatus

        self.args = args
        self.sequence = sequence
        self.tally = Tally()
        self.stamps: dict[int, int] = {}  # stamp in ns -> frame index
        self.node = rclpy.create_node('deeptrack_demo_driver')
        reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        self.image_publisher = self.node.create_publisher(Image, CAMERA_TOPIC, reliable)
        self.init_publisher = self.node.create_publisher(Detection2D, f'{NODE_BASE}/init',
                                                         reliable)
        self.node.create_subscription(TrackStatus, f'{NODE_BASE}/status', self._on_status,
                                      reliable)
        self.node.create_subscription(Detection2D, f'{NODE_BASE}/detection',
                                      self._on_detection, reliable)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.clock = self.node.get_clock()

    # --- callbacks -----------------------------------------------------------------------
    def _index(self, header: Any) -> int | None:
        from deeptrack_ros.ros.conversions import stamp_to_ns

        return self.stamps.get(stamp_to_ns(header.stamp))

    def _on_status(self, status: Any) -> None:
        index = self._index(status.header)
        if index is None:
            return
        with self.tally.lock:
            self.tally.statuses[index] = status
        if not self.args.quiet:
            print(self.describe(index, status), flush=True)

    def _on_detection(self, detection: Any) -> None:
        index = self._index(detection.header)
        if index is not None:
            with self.tally.lock:
                self.tally.detections[index] = detection

    def describe(self, index: int, status: Any) -> str:
        from deeptrack_ros.ros.diagnostics import STATE_NAMES

        state = STATE_NAMES[status.state] if status.state < len(STATE_NAMES) else '?'
        box = (status.x, status.y, status.width, status.height)
        overlap = iou(box, self.sequence.box(index)) if status.width > 0 else 0.0
        return (f'frame {index:4d}  {state:8s}  box ({box[0]:6.1f}, {box[1]:6.1f}, '
                f'{box[2]:5.1f}, {box[3]:5.1f})  score {status.confidence:4.2f}  '
                f'Q {status.quality:4.2f}  IoU {overlap:4.2f}  '
                f'{status.processing_time_ms:7.1f} ms')

    # --- driving -------------------------------------------------------------------------
    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.executor.spin_once(timeout_sec=min(left, 0.05))

    def spin_until(self, condition: Any, timeout: float, alive: Any) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline or not alive():
                return condition()
            self.executor.spin_once(timeout_sec=0.05)
        return True

    def connected(self) -> bool:
        return (self.image_publisher.get_subscription_count() > 0
                and self.init_publisher.get_subscription_count() > 0
                and self.node.count_publishers(f'{NODE_BASE}/status') > 0
                and self.node.count_publishers(f'{NODE_BASE}/detection') > 0)

    def send_frame(self, index: int) -> Any:
        from deeptrack_ros.ros.conversions import array_to_image, stamp_to_ns

        msg = array_to_image(self.sequence.frame(index), 'rgb8')
        msg.header.stamp = self.clock.now().to_msg()
        msg.header.frame_id = 'demo_camera'
        self.stamps[stamp_to_ns(msg.header.stamp)] = index
        self.image_publisher.publish(msg)
        return msg.header

    def send_init(self, header: Any, box: tuple[float, float, float, float]) -> None:
        from vision_msgs.msg import Detection2D

        x, y, w, h = box
        msg = Detection2D()
        msg.header = header
        msg.bbox.center.position.x = x + w / 2.0
        msg.bbox.center.position.y = y + h / 2.0
        msg.bbox.size_x, msg.bbox.size_y = float(w), float(h)
        self.init_publisher.publish(msg)

    def has_status(self, index: int, tracking: bool = False) -> bool:
        with self.tally.lock:
            status = self.tally.statuses.get(index)
        return status is not None and (not tracking or status.state != 0)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Overlap of two 0-based (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - ix * iy
    return ix * iy / union if union > 0 else 0.0


def run(args: argparse.Namespace, demo: Demo, node: subprocess.Popen, log: Any) -> int:
    """Steps 3 and 4 of the module docstring; returns the exit status."""
    alive = lambda: node.poll() is None  # noqa: E731
    started = time.monotonic()
    if not demo.spin_until(demo.connected, args.startup_timeout, alive):
        return fail('the node did not come up' if alive() else 'the node died', node, log)
    print(f'node connected after {time.monotonic() - started:.1f} s', flush=True)
    demo.spin_for(0.5)  # both sides of every match are known now

    sequence = demo.sequence
    header = demo.send_frame(0)
    if not demo.spin_until(lambda: demo.has_status(0), 30.0, alive):
        return fail('no status came back for frame 0', node, log)
    demo.send_init(header, sequence.box(0))
    print(f'init box {sequence.box(0)} sent for frame 0; the node is training its model...',
          flush=True)
    init_started = time.monotonic()
    if not demo.spin_until(lambda: demo.has_status(0, tracking=True), args.init_timeout, alive):
        return fail('the initialisation did not finish', node, log)
    print(f'initialised in {time.monotonic() - init_started:.1f} s', flush=True)

    stream_started = time.monotonic()
    period = 1.0 / args.rate
    for index in range(1, len(sequence)):
        tick = time.monotonic()
        demo.send_frame(index)
        if args.lockstep:
            demo.spin_until(lambda: demo.has_status(index), args.init_timeout, alive)
        else:
            demo.spin_for(max(0.0, period - (time.monotonic() - tick)))
        if not alive():
            return fail(f'the node died at frame {index}', node, log)
    last = len(sequence) - 1
    demo.spin_until(lambda: demo.has_status(last), 60.0, alive)
    stream_seconds = time.monotonic() - stream_started
    demo.spin_for(0.3)
    return summarise(args, demo, stream_seconds, node, log)


def summarise(args: argparse.Namespace, demo: Demo, seconds: float, node: subprocess.Popen,
              log: Any) -> int:
    """Print the summary; 0 when detections came back from a live node."""
    with demo.tally.lock:
        statuses = dict(demo.tally.statuses)
        detections = dict(demo.tally.detections)
    tracked = [i for i in statuses if i > 0]
    ious = [iou(_detection_box(d), demo.sequence.box(i)) for i, d in detections.items() if i]
    last = statuses[max(statuses)] if statuses else None
    times = [statuses[i].processing_time_ms for i in tracked]
    print('\nsummary')
    print(f'  frames sent          {len(demo.sequence)} ({args.width}x{args.height}, '
          f'{"lock-step" if args.lockstep else f"{args.rate:g} Hz"})')
    print(f'  statuses received    {len(statuses)} (frames tracked after the init: '
          f'{len(tracked)})')
    if last is not None:
        print(f'  node counters        received {last.frames_received}, processed '
              f'{last.frames_processed}, dropped {last.frames_dropped}, rejected '
              f'{last.frames_rejected}')
    print(f'  detections received  {len(detections)} (none while the target is lost)')
    if ious:
        print(f'  mean IoU vs truth    {np.mean(ious):.3f} over the detections after the init; '
              f'{np.mean(np.asarray(ious) > 0.5):.0%} above 0.5')
    if tracked and seconds > 0:
        print(f'  mean fps             {len(tracked) / seconds:.2f} frames tracked per second '
              f'of streaming; mean processing {np.mean(times):.1f} ms per frame')
    if node.poll() is not None:
        return fail('the node died before the end', node, log)
    if not detections:
        return fail('no detection came back', node, log)
    return 0


def _detection_box(detection: Any) -> tuple[float, float, float, float]:
    from deeptrack_ros.ros.conversions import detection_to_box

    return detection_to_box(detection)


def fail(reason: str, node: subprocess.Popen, log: Any) -> int:
    print(f'\ndemo failed: {reason}', file=sys.stderr)
    log.flush()
    log.seek(0)
    tail = log.read()[-3000:]
    if tail:
        print(f'--- last node output ---\n{tail}', file=sys.stderr)
    return 1


def stop_node(node: subprocess.Popen) -> None:
    """SIGINT, as Ctrl-C would; kill only if the node ignores it."""
    if node.poll() is not None:
        return
    started = time.monotonic()
    node.send_signal(signal.SIGINT)
    try:
        code = node.wait(10)
        print(f'  node stopped          exit code {code}, {time.monotonic() - started:.1f} s '
              'after SIGINT')
    except subprocess.TimeoutExpired:
        node.kill()
        node.wait(5)
        print('  node stopped          killed: it ignored SIGINT for 10 s')


def main(argv: list[str] | None = None) -> int:
    """Entry point of `deeptrack-demo`."""
    args = parse_args(argv)
    prepare_environment()
    from deeptrack_ros.ros.synthetic import SyntheticSequence

    sequence = SyntheticSequence(count=args.frames, size=(args.width, args.height),
                                 seed=args.seed)
    env = dict(os.environ)
    env.pop(BOOTSTRAP_MARKER, None)  # the child sets up its own library path (see README)
    env['PYTHONUNBUFFERED'] = '1'
    command = [*node_command(), '--ros-args', '-r', f'__ns:={NAMESPACE}',
               '-r', f'image:={CAMERA_TOPIC}', *node_parameters(args)]
    print(f'domain {os.environ["ROS_DOMAIN_ID"]}; starting: {" ".join(command)}', flush=True)
    import rclpy
    from rclpy.executors import ExternalShutdownException

    log = tempfile.TemporaryFile(mode='w+')
    node = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    demo = None
    try:
        demo = Demo(args, sequence)
        return run(args, demo, node, log)
    except (KeyboardInterrupt, ExternalShutdownException):
        print('\ninterrupted', file=sys.stderr)
        return 1
    finally:
        if demo is not None:
            demo.close()
        rclpy.try_shutdown()
        stop_node(node)
        log.close()


if __name__ == '__main__':
    sys.exit(main())
