"""Test-wide set-up: the source tree first on sys.path, and a private, local DDS network.

Both happen at import, before any test module can import rclpy or deeptrack_ros:

- the repository root goes first on sys.path, so tests exercise the working tree; the
  generated `deeptrack_ros.msg` is still found in site-packages (deeptrack_ros/__init__.py
  extends the package path);
- `ros_helpers.configure_test_network()` picks a random ROS_DOMAIN_ID for this run and keeps
  discovery and transports on this machine (see test/ros_helpers.py, which also documents
  `ros_child_env()` for tests that start child processes).
"""

import sys

import pytest

import ros_helpers

if str(ros_helpers.REPO_ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ros_helpers.REPO_ROOT))

ros_helpers.configure_test_network()


def pytest_report_header(config):
    """Show the test network in the header, so a failing run can be reproduced or traced."""
    return f'DDS test network: {ros_helpers.network_summary()}'


@pytest.fixture
def ros_context():
    """Give the test an initialised rclpy context of its own (skip without rclpy)."""
    pytest.importorskip('rclpy')
    with ros_helpers.ros_context() as context:
        yield context
