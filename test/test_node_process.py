"""The node as users start it: `deeptrack-node --ros-args ...` in its own process.

End to end across processes: images published here reach the node's process over DDS, and
its detections and statuses come back here. Also: Ctrl-C (SIGINT) ends the node within two
seconds even in the middle of a long training step, and invalid start-up parameters end it
at once with exit code 2 and the reason.
"""

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

pytest.importorskip('rclpy')
pytest.importorskip('deeptrack_ros.msg')
pytest.importorskip('vision_msgs.msg')

from deeptrack_ros.msg import TrackStatus  # noqa: E402
from deeptrack_ros.ros.synthetic import SyntheticSequence  # noqa: E402

from node_test_support import (LIGHT_NODE, TIMEOUT, Peer, iou, ros_args,  # noqa: E402
                               unique_namespace)
from ros_helpers import ros_child_env  # noqa: E402

SEQUENCE = SyntheticSequence(count=40, size=(160, 120), seed=5)
T0 = 2000.0


def node_command():
    """The console script next to this interpreter, as `make setup` installs it."""
    script = pathlib.Path(sys.executable).parent / 'deeptrack-node'
    if script.exists():
        return [str(script)]
    return [sys.executable, '-m', 'deeptrack_ros.ros.main']


class NodeProcess:
    """A tracker node child process with its output in a temporary file."""

    def __init__(self, namespace, params):
        self.log = tempfile.TemporaryFile(mode='w+')
        args = ['--ros-args', '-r', f'__ns:={namespace}', *ros_args(params)]
        self.proc = subprocess.Popen([*node_command(), *args], env=ros_child_env(),
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def child():
    made = []

    def start(namespace, **params):
        process = NodeProcess(namespace, {**LIGHT_NODE, **params})
        made.append(process)
        return process

    yield start
    for process in made:
        process.close()


def test_end_to_end_across_processes(ros_context, child):
    namespace = unique_namespace()
    node = child(namespace)
    peer = Peer(ros_context, namespace)
    try:
        peer.wait_connected()
        assert node.proc.poll() is None, node.output()
        header = peer.send_image(SEQUENCE.frame(0), T0)
        peer.wait_status(header.stamp)
        peer.send_init(SEQUENCE.box(0), T0)
        peer.wait_for(lambda: peer.detections, TIMEOUT, 'the initialisation detection')

        ious = []
        for index in range(1, 10):
            header = peer.send_image(SEQUENCE.frame(index), T0 + index * 0.04)
            status = peer.wait_status(header.stamp)
            assert status.header == header and status.track_id == 'track-1'
            assert status.state in (TrackStatus.STATE_TRACKING, TrackStatus.STATE_LOST)
            ious.append(iou((status.x, status.y, status.width, status.height),
                            SEQUENCE.box(index)))
        # One detection per frame tracked (none while lost), stamped with that frame.
        tracked = [s for s in peer.statuses if s.state == TrackStatus.STATE_TRACKING]
        peer.wait_for(lambda: len(peer.detections) == len(tracked), 10, 'the detections')
        assert [d.header for d in peer.detections] == [s.header for s in tracked]
        assert all(d.header.frame_id == 'camera' for d in peer.detections)
        assert {d.id for d in peer.detections} == {'track-1'}
        # Accuracy is the core's tests' business; here the box only has to be the target's.
        assert ious[0] > 0.1, f'IoUs {np.round(ious, 2)}'
        assert peer.latest_status().frames_processed == 10  # frame 0 once, as idle
    finally:
        peer.close()
    node.proc.send_signal(signal.SIGINT)
    assert node.proc.wait(10) == 0, node.output()


def test_sigint_during_training_exits_within_two_seconds(ros_context, child):
    namespace = unique_namespace()
    # A first-frame training that cannot finish soon: the loss target 0 is never reached.
    node = child(namespace, first_frame_iterations=100000, lazy_epsilon=0.0)
    peer = Peer(ros_context, namespace)
    try:
        peer.wait_connected()
        header = peer.send_image(SEQUENCE.frame(0), T0)
        peer.wait_status(header.stamp)
        peer.send_init(SEQUENCE.box(0), T0)
        peer.wait_for(lambda: 'accepted' in node.output(), 10, 'the init to be accepted')
        time.sleep(1.5)
        assert not peer.detections, 'the initialisation should still be training'
        assert all(s.state == TrackStatus.STATE_IDLE for s in peer.statuses)
    finally:
        peer.close()
    started = time.monotonic()
    node.proc.send_signal(signal.SIGINT)
    try:
        code = node.proc.wait(10)
    except subprocess.TimeoutExpired:
        pytest.fail(f'the node ignored SIGINT for 10 s:\n{node.output()}')
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f'exit took {elapsed:.2f} s'
    assert code == 0, node.output()
    assert 'Traceback' not in node.output(), node.output()


@pytest.mark.parametrize('params, reason', [
    ({'estimator': 'bogus'}, 'estimator must be one of'),
    ({'num_particles': 0}, 'num_particles'),
])
def test_invalid_start_up_parameters_exit_with_code_2(params, reason):
    args = ['--ros-args', '-r', f'__ns:={unique_namespace()}', *ros_args(params)]
    done = subprocess.run([*node_command(), *args], env=ros_child_env(), timeout=120,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert done.returncode == 2, done.stdout + done.stderr
    assert reason in done.stderr, done.stderr
    assert os.linesep.join(done.stderr.splitlines()[-3:]).count('Traceback') == 0
