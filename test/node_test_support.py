"""Shared pieces of the node tests: a light tracker configuration and a peer that drives a node.

The peer is what a user's system is to the node: a camera publisher, a GUI sending `~/init`,
subscribers of the node's outputs and clients of its services, all in one rclpy node of the
test process. Messages go through real DDS (loopback, the run's random domain) whether the
tracker node runs in this process or in a child.

Everything here waits with a timeout; failures say what was being waited for.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Callable

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D

from deeptrack_ros.msg import TrackStatus
from deeptrack_ros.ros.conversions import array_to_image, stamp_to_ns

# A tracker cheap enough for a shared 2-core machine: few particles, few SGD iterations, small
# pools. Tests check the node, not the tracker's accuracy.
LIGHT_TRACKER = {
    'num_particles': 200,
    'first_frame_iterations': 10,
    'max_update_iterations': 2,
    'negatives_per_frame': 30,
    'batch_positives': 4,
    'batch_negatives': 12,
    'scale_levels': 1,
    'positive_pool_size': 50,
    'negative_pool_size': 100,
}
LIGHT_NODE = {**LIGHT_TRACKER, 'torch_threads': 1, 'diagnostics_period': 0.2,
              'reliability': 'reliable', 'qos_depth': 10}

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
TIMEOUT = 60.0  # generous: initialisation takes seconds on a loaded 2-core machine


def unique_namespace() -> str:
    """A namespace no other test uses, so tests in one run never see each other's topics."""
    return f'/t{uuid.uuid4().hex[:10]}'


def ros_args(values: dict[str, Any]) -> list[str]:
    """`-p name:=value` arguments for a child node, formatted as ROS parses them."""
    args = []
    for name, value in values.items():
        text = ('true' if value else 'false') if isinstance(value, bool) else str(value)
        args += ['-p', f'{name}:={text}']
    return args


def stamp(seconds: float) -> Any:
    """A builtin_interfaces/Time for `seconds`."""
    from builtin_interfaces.msg import Time

    whole = int(seconds)
    return Time(sec=whole, nanosec=int(round((seconds - whole) * 1e9)))


class Peer:
    """Camera, init sender, output subscriber and service client for one tracker node.

    `namespace` and `node_name` say where the tracker node lives; the peer talks to
    <namespace>/image and <namespace>/<node_name>/{init,detection,status,reset,stop}.
    """

    def __init__(self, context: Any, namespace: str, node_name: str = 'tracker_node',
                 image_qos: QoSProfile = RELIABLE, extra_nodes: tuple[Any, ...] = ()) -> None:
        self.namespace = namespace
        self.base = f'{namespace}/{node_name}'
        self.node = rclpy.create_node('test_peer', namespace=namespace, context=context)
        self.detections: list[Detection2D] = []
        self.statuses: list[TrackStatus] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.debug_images: list[Image] = []
        self._lock = threading.Lock()
        node = self.node
        self.image_publisher = node.create_publisher(Image, f'{namespace}/image', image_qos)
        self.init_publisher = node.create_publisher(Detection2D, f'{self.base}/init', RELIABLE)
        node.create_subscription(Detection2D, f'{self.base}/detection',
                                 self._keep(self.detections), RELIABLE)
        node.create_subscription(TrackStatus, f'{self.base}/status', self._keep(self.statuses),
                                 RELIABLE)
        node.create_subscription(DiagnosticArray, '/diagnostics', self._keep(self.diagnostics),
                                 RELIABLE)
        node.create_subscription(Image, f'{self.base}/debug_image',
                                 self._keep(self.debug_images), RELIABLE)
        self.reset_client = node.create_client(Trigger, f'{self.base}/reset')
        self.stop_client = node.create_client(Trigger, f'{self.base}/stop')
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        for extra in extra_nodes:
            self.executor.add_node(extra)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._running = True
        self._thread.start()

    def _spin(self) -> None:
        while self._running:
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - the context is being shut down
                if self._running:
                    raise
                return

    def _keep(self, store: list) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            with self._lock:
                store.append(msg)
        return callback

    def close(self) -> None:
        self._running = False
        self._thread.join(5.0)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()

    # --- waiting -------------------------------------------------------------------------
    @staticmethod
    def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT,
                 what: str = 'condition') -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f'timed out after {timeout:g} s waiting for {what}')
            time.sleep(0.02)

    def wait_connected(self, timeout: float = TIMEOUT, image: bool = True) -> None:
        """Wait until the node's subscriptions and publishers are matched with ours."""
        self.wait_for(lambda: self.init_publisher.get_subscription_count() > 0, timeout,
                      f'a subscriber on {self.base}/init')
        if image:
            self.wait_for(lambda: self.image_publisher.get_subscription_count() > 0, timeout,
                          f'a subscriber on {self.namespace}/image')
        self.wait_for(
            lambda: self.node.count_publishers(f'{self.base}/status') > 0
            and self.node.count_publishers(f'{self.base}/detection') > 0,
            timeout, 'the node\'s status and detection publishers')
        self.wait_for(lambda: self.reset_client.service_is_ready(), timeout, 'the reset service')
        # Publisher and subscription match on both sides a moment apart; give the node's side
        # time to see ours, or the first message could be lost.
        time.sleep(0.3)

    def status_for(self, header_stamp: Any) -> TrackStatus | None:
        wanted = stamp_to_ns(header_stamp)
        with self._lock:
            return next((s for s in self.statuses if stamp_to_ns(s.header.stamp) == wanted),
                        None)

    def wait_status(self, header_stamp: Any, timeout: float = TIMEOUT) -> TrackStatus:
        self.wait_for(lambda: self.status_for(header_stamp) is not None, timeout,
                      f'the status of the frame stamped {stamp_to_ns(header_stamp)} ns')
        return self.status_for(header_stamp)

    def latest_status(self) -> TrackStatus | None:
        with self._lock:
            return self.statuses[-1] if self.statuses else None

    # --- sending ---------------------------------------------------------------------------
    def send_image(self, image: np.ndarray, seconds: float, encoding: str = 'rgb8',
                   frame_id: str = 'camera') -> Any:
        """Publish `image` stamped `seconds`; return the header it carried."""
        msg = array_to_image(image, encoding)
        msg.header.stamp = stamp(seconds)
        msg.header.frame_id = frame_id
        self.image_publisher.publish(msg)
        return msg.header

    def send_message(self, msg: Image) -> None:
        self.image_publisher.publish(msg)

    def send_init(self, box: tuple[float, float, float, float], seconds: float) -> None:
        x, y, w, h = box
        msg = Detection2D()
        msg.header.stamp = stamp(seconds)
        msg.bbox.center.position.x = x + w / 2.0
        msg.bbox.center.position.y = y + h / 2.0
        msg.bbox.size_x = float(w)
        msg.bbox.size_y = float(h)
        self.init_publisher.publish(msg)

    def call(self, client: Any, timeout: float = TIMEOUT) -> Any:
        future = client.call_async(Trigger.Request())
        self.wait_for(future.done, timeout, f'a reply from {client.srv_name}')
        return future.result()


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Overlap of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0
