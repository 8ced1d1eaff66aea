"""Entry point of the tracker node: `deeptrack-node` and `ros2 run deeptrack_ros tracker_node`.

Usage: deeptrack-node [--ros-args -p name:=value ... -r image:=/camera/image_raw]

Exit codes: 0 after a clean shutdown (Ctrl-C, SIGTERM, context shut down), 2 when the
parameters given at start-up are invalid (the reason is printed), 1 for any other failure.

Shutdown is bounded: the tracking thread is a daemon with a stop event and is joined for at
most one second. A training step cannot be interrupted from outside; if one is still running
after that second, the process ends with os._exit, because waiting for it (up to seconds at
initialisation) or letting the interpreter tear torch down under a running thread would both
be worse than skipping the rest of the interpreter's clean-up.
"""

from __future__ import annotations

import os
import sys

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

WORKER_JOIN_TIMEOUT = 1.0


def main(args: list[str] | None = None) -> int:
    """Run the node until shutdown; see the module docstring for the exit codes."""
    from deeptrack_ros.ros.tracker_node import TrackerNode

    rclpy.init(args=args)
    node = None
    code = 0
    worker_ended = True
    try:
        node = TrackerNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ParameterException, ValueError) as exc:
        print(f'tracker_node: {exc}', file=sys.stderr)
        code = 2
    except Exception:  # noqa: BLE001 - reported, then the clean-up below runs
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        if node is not None:
            worker_ended = node.stop_worker(WORKER_JOIN_TIMEOUT)
            node.destroy_node()
        rclpy.try_shutdown()
    if not worker_ended:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == '__main__':
    sys.exit(main())
