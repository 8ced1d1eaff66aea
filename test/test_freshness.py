"""The lag budget: when the worker waits for a fresher frame, and what it does on the buffer."""

import threading
import time

import pytest

from deeptrack_ros.ros.frame_buffer import FrameBuffer
from deeptrack_ros.ros.freshness import MIN_SAMPLES, WAIT_SLACK, FreshnessPolicy, take_fresh

PERIOD = 1.0 / 60.0


class Clock:
    """A clock the test sets by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def trained(cost: float, budget: float = 2.0, clock=None):
    """A policy that has seen a 60 Hz camera and detections taking `cost` seconds."""
    clock = clock or Clock()
    policy = FreshnessPolicy(budget, clock)
    now = clock()
    for n in range(MIN_SAMPLES + 1):
        policy.frame_arrived(now - (MIN_SAMPLES - n) * PERIOD)
    for _ in range(MIN_SAMPLES):
        policy.detection_took(cost)
    return policy, clock


def test_waits_only_for_a_frame_too_old_to_make_the_budget():
    # 20 ms to a detection, 33.3 ms of budget: a frame may have waited 13.3 ms.
    policy, clock = trained(0.020)
    assert policy.estimates() == pytest.approx((PERIOD, 0.020))
    assert policy.wait_for_newer(clock.now - 0.005) is None
    assert policy.wait_for_newer(clock.now - 0.013) is None
    # 15 ms old: its detection would be 35 ms behind. The next frame is due 1.7 ms from now.
    wait = policy.wait_for_newer(clock.now - 0.015)
    assert wait == pytest.approx(PERIOD - 0.015 + WAIT_SLACK * PERIOD)
    assert policy.waits == 1


def test_never_waits_when_no_frame_could_make_the_budget_or_before_it_knows():
    # 40 ms to a detection at 60 Hz: even a fresh frame is three periods behind; waiting
    # would only lose frames.
    policy, clock = trained(0.040)
    assert policy.wait_for_newer(clock.now - 0.016) is None
    # Off (budget 0), and a policy that has seen too little.
    off, clock = trained(0.020, budget=0.0)
    assert off.wait_for_newer(clock.now - 0.016) is None
    fresh = FreshnessPolicy(2.0, clock)
    fresh.detection_took(0.020)
    assert fresh.wait_for_newer(clock.now - 0.016) is None
    with pytest.raises(ValueError, match='budget_periods'):
        FreshnessPolicy(-1.0)


def test_the_cost_is_a_high_percentile_of_recent_detections():
    policy, _ = trained(0.010)
    for _ in range(3):
        policy.detection_took(0.030)  # a few slow frames count: the policy errs to waiting
    assert policy.estimates()[1] > 0.020


class Item:
    def __init__(self, name: str, received_at: float) -> None:
        self.name = name
        self.received_at = received_at


def test_take_fresh_swaps_an_old_frame_for_the_next_and_counts_it_dropped():
    policy, _ = trained(0.020, clock=time.monotonic)  # the buffer waits in real time
    buffer: FrameBuffer[Item] = FrameBuffer()
    buffer.put(Item('old', time.monotonic() - 0.015))
    old = buffer.get()
    threading.Timer(0.002, lambda: buffer.put(Item('new', time.monotonic()))).start()
    taken = take_fresh(buffer, old, policy, lambda item: item.received_at)
    assert taken.name == 'new'
    counters = buffer.counters()
    assert (counters.received, counters.dropped, counters.pending) == (2, 1, 1)
    buffer.mark_processed()
    assert buffer.counters().pending == 0


def test_take_fresh_keeps_the_frame_when_none_comes_or_the_worker_is_woken():
    policy, _ = trained(0.020, clock=time.monotonic)
    buffer: FrameBuffer[Item] = FrameBuffer()
    buffer.put(Item('old', time.monotonic() - 0.015))
    old = buffer.get()
    assert take_fresh(buffer, old, policy, lambda i: i.received_at) is old
    assert buffer.counters().dropped == 0
    # A command wakes the buffer during the wait: the frame at hand is kept.
    buffer.wake()
    assert take_fresh(buffer, old, policy, lambda i: i.received_at) is old
    # Without a policy nothing waits.
    assert take_fresh(buffer, old, None, lambda i: i.received_at) is old
    assert buffer.counters().pending == 1


def test_a_cost_just_under_the_budget_waits_only_while_the_hand_over_is_unknown():
    # 30 ms to a detection, 33.3 ms of budget: only a frame younger than 3.3 ms makes it.
    policy, clock = trained(0.030)
    assert policy.handover_delay() == 0.0
    assert policy.wait_for_newer(clock.now - 0.005) is not None
    # Frames waited for reach the worker 5 ms after their arrival: none would make it, so
    # waiting only loses frames.
    for _ in range(3):
        policy.frame_handed_over(0.005)
    assert policy.handover_delay() == pytest.approx(0.005)
    assert policy.wait_for_newer(clock.now - 0.005) is None
    # A frame of 15 ms at 20 ms a detection still waits: a fresh one would make it.
    cheap, clock = trained(0.020)
    cheap.frame_handed_over(0.005)
    assert cheap.wait_for_newer(clock.now - 0.015) is not None


def test_take_fresh_waits_once_and_tracks_the_frame_it_waited_for_whatever_its_age():
    # The policy would find the new frame too old as well (it arrived 5 ms before the worker
    # looks at it, with 30 ms a detection): it is tracked all the same, and the 5 ms are
    # learned as the hand-over delay.
    policy, _ = trained(0.030, clock=time.monotonic)
    buffer: FrameBuffer[Item] = FrameBuffer()
    buffer.put(Item('old', time.monotonic() - 0.015))
    old = buffer.get()
    threading.Timer(0.002, lambda: buffer.put(Item('new', time.monotonic() - 0.005))).start()
    threading.Timer(0.030, lambda: buffer.put(Item('newest', time.monotonic()))).start()
    taken = take_fresh(buffer, old, policy, lambda item: item.received_at)
    assert taken.name == 'new'
    assert policy.waits == 1
    assert policy.handover_delay() >= 0.005
    time.sleep(0.05)
    counters = buffer.counters()
    # Pending: the frame in flight, and the newest one waiting in the buffer for the next.
    assert (counters.received, counters.dropped, counters.pending) == (3, 1, 2)
