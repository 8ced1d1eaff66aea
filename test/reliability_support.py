"""Shared pieces of the reliability tests (issue 7): the node's log as ROS delivers it, and
readers for /diagnostics reports.

Log lines are read from /rosout, where every rclpy node publishes what it logs: that is what an
operator's tools (rqt_console, `ros2 topic echo /rosout`) see, and it needs no capture of the
process's stderr. The subscription is transient-local, so lines logged while the node was
starting (before the subscription matched) arrive too.
"""

from __future__ import annotations

import threading
from typing import Any

from rcl_interfaces.msg import Log
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from node_test_support import LIGHT_NODE

# Lighter still than LIGHT_NODE, for tests of the node's behaviour that never look at the
# tracker's accuracy: a shorter first-frame training and fewer particles make an
# initialisation about twice as cheap on a loaded 2-core machine.
FAST_NODE = {**LIGHT_NODE, 'first_frame_iterations': 4, 'num_particles': 100}

ROSOUT_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)

LEVEL_OK, LEVEL_WARN, LEVEL_ERROR = b'\x00', b'\x01', b'\x02'


class LogWatch:
    """The log lines of one node (by its logger name), collected from /rosout."""

    def __init__(self, peer: Any, node_name: str = 'tracker_node') -> None:
        # rclpy names a node's logger after its namespace and name, with dots: 'ns.node'.
        self.logger = f'{peer.namespace.strip("/").replace("/", ".")}.{node_name}'
        self._lines: list[Log] = []
        self._lock = threading.Lock()
        peer.node.create_subscription(Log, '/rosout', self._keep, ROSOUT_QOS)

    def _keep(self, msg: Log) -> None:
        if msg.name == self.logger:
            with self._lock:
                self._lines.append(msg)

    def lines(self, containing: str = '', level: int | None = None) -> list[str]:
        """Messages that contain `containing` (and have `level`, e.g. Log.WARN)."""
        with self._lock:
            return [m.msg for m in self._lines
                    if containing in m.msg and (level is None or m.level == level)]


def reports(peer: Any) -> list[Any]:
    """The DiagnosticStatus entries the peer's node received from its tracker node."""
    return [d.status[0] for d in list(peer.diagnostics)
            if d.status and d.status[0].name.startswith(peer.base)]


def values(report: Any) -> dict[str, str]:
    """A DiagnosticStatus's key-values as a dict."""
    return {kv.key: kv.value for kv in report.values}


def wait_report(peer: Any, condition: Any, what: str, timeout: float = 20.0) -> Any:
    """Wait for a /diagnostics report for which `condition(report)` holds; return the latest."""
    def matching() -> list[Any]:
        return [r for r in reports(peer) if condition(r)]

    peer.wait_for(lambda: matching(), timeout, what)
    return matching()[-1]
