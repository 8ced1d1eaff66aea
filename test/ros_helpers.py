"""Helpers for tests that use real rclpy and real DDS: a private test network, child processes.

Test network. conftest.py calls `configure_test_network()` once per run, before anything can
create a DDS participant. It keeps all traffic on this machine and away from other runs:

- ROS_DOMAIN_ID: random in 1..101 for every run (DEEPTRACK_TEST_DOMAIN_ID pins it when
  debugging), so two runs at once on one machine, or a robot on the network, never cross-talk;
- ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST: discovery never leaves the machine;
- FASTDDS_DEFAULT_PROFILES_FILE=config/fastdds_loopback.xml: shared memory plus loopback UDP;
- RMW_IMPLEMENTATION=rmw_fastrtps_cpp and AMENT_PREFIX_PATH=<venv>: as `make test` sets them.

Only the domain is forced; the others are defaults that a caller's environment may override.

Child processes. The ROS wheels' .pth hook re-executes the interpreter once with
LD_LIBRARY_PATH set, and marks that with _ROS_WHEELS_BOOTSTRAP_COMPLETE. A child started with
a copy of the environment that still has the marker but lost (or never had the right)
LD_LIBRARY_PATH skips the hook and cannot load rclpy. `ros_child_env()` drops the marker, so
every child bootstraps itself from its own interpreter's prefix (about 15 ms), and puts the
source tree first on PYTHONPATH, so the child runs the same code as the test. Always start
children with it:

    proc = subprocess.Popen([sys.executable, '-c', code], env=ros_child_env())

or use `spawn_python()`, which also captures the child's output for failure messages.
"""

import contextlib
import os
import pathlib
import random
import subprocess
import sys
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
BOOTSTRAP_MARKER = '_ROS_WHEELS_BOOTSTRAP_COMPLETE'
DOMAIN_RANGE = (1, 101)


def configure_test_network():
    """Set the DDS environment variables for this test run and return the domain id.

    Must run before the first rclpy.init() in the process: the middleware reads them when
    it creates its participant. The domain id is always fresh, even if the user's shell has
    one, because a shared domain is exactly what lets parallel runs disturb each other.
    """
    pinned = os.environ.get('DEEPTRACK_TEST_DOMAIN_ID')
    domain = int(pinned) if pinned else random.SystemRandom().randint(*DOMAIN_RANGE)
    os.environ['ROS_DOMAIN_ID'] = str(domain)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE',
                          str(REPO_ROOT / 'config' / 'fastdds_loopback.xml'))
    os.environ.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)
    return domain


def network_summary():
    """One line describing the test network, for the pytest header and failure messages."""
    keys = ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'RMW_IMPLEMENTATION',
            'FASTDDS_DEFAULT_PROFILES_FILE')
    return ', '.join(f'{key}={os.environ.get(key, "")}' for key in keys)


def ros_child_env(**overrides):
    """Return a copy of os.environ in which a child Python process can load rclpy.

    The bootstrap marker is removed (see the module docstring), the repository root is put
    first on PYTHONPATH, and output is unbuffered so a killed child still shows what it
    printed. Keyword arguments set further variables (values are converted to str).
    """
    env = dict(os.environ)
    env.pop(BOOTSTRAP_MARKER, None)
    paths = [str(REPO_ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p]
    env['PYTHONPATH'] = os.pathsep.join(paths)
    env['PYTHONUNBUFFERED'] = '1'
    env.update({key: str(value) for key, value in overrides.items()})
    return env


@contextlib.contextmanager
def spawn_python(code, *args, env=None):
    """Run `python -c code args...` as a child for the duration of a with-block.

    The child is killed on exit if it still runs, and its combined output is then available
    as `proc.output` (read after the block) for assertion messages.
    """
    proc = subprocess.Popen(
        [sys.executable, '-c', code, *map(str, args)],
        env=ros_child_env() if env is None else env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.output = proc.communicate()[0]


@contextlib.contextmanager
def ros_context():
    """Yield an initialised rclpy context of its own, and shut it down on exit.

    A private context (rather than the global one from rclpy.init()) keeps tests independent:
    a test that fails half-way cannot leave nodes or an initialised context to the next one.
    """
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        context.try_shutdown()


def spin_until(executor, condition, timeout, step=None):
    """Spin executor until condition() is true or timeout seconds passed; return condition().

    step, when given, is called between spins (for instance to publish again while discovery
    is still matching the endpoints, since a message sent before the match is lost).
    """
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        if step is not None:
            step()
        executor.spin_once(timeout_sec=0.05)
    return condition()
