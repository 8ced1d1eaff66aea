"""The node's parts that need no ROS graph: buffer, history, session, worker, reports, drawing.

These run the real tracker (with a light configuration) and real threads; only the ROS
transport is left out, so that the thread hand-over and the state machine are checked
deterministically, which over DDS they could not be.
"""

import threading
import time

import numpy as np
import pytest

from deeptrack_ros.core import DeepTracker, preset
from deeptrack_ros.ros.diagnostics import (LEVEL_ERROR, LEVEL_OK, LEVEL_WARN, RateMeter,
                                           TrackerSnapshot, key_values, level_and_message,
                                           resident_memory_mb, tracker_pools)
from deeptrack_ros.ros.frame_buffer import BufferCounters, FrameBuffer
from deeptrack_ros.ros.heap import HeapTrimmer, trim, trim_available
from deeptrack_ros.ros.history import Frame, FrameHistory
from deeptrack_ros.ros.reporting import CauseReporter
from deeptrack_ros.ros.session import TrackingSession, TrackState
from deeptrack_ros.ros.synthetic import SyntheticSequence

from node_test_support import LIGHT_TRACKER

SEQUENCE = SyntheticSequence(count=12, size=(160, 120), seed=1)


def light_tracker():
    return DeepTracker(preset('best').replace(**LIGHT_TRACKER), device='cpu', seed=0)


# --- FrameBuffer ---------------------------------------------------------------------------


def test_buffer_keeps_only_the_newest_item():
    buffer = FrameBuffer()
    assert buffer.put(1) is False
    assert buffer.put(2) is True
    assert buffer.put(3) is True
    assert buffer.get(timeout=0) == 3
    assert buffer.get(timeout=0) is None
    assert buffer.counters() == BufferCounters(received=3, dropped=2, pending=1)
    buffer.mark_processed()
    assert buffer.counters() == BufferCounters(received=3, processed=1, dropped=2)


def test_buffer_counts_add_up_under_a_burst_with_a_slow_consumer():
    """received = processed + dropped + rejected, from a producer far faster than the consumer."""
    buffer = FrameBuffer()
    taken = []

    def consume():
        while True:
            item = buffer.get()
            if item is None:
                if buffer.closed:
                    return
                continue
            time.sleep(0.003)
            if item % 7 == 0:
                buffer.mark_rejected()
            else:
                buffer.mark_processed()
            taken.append(item)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    for item in range(1, 501):
        buffer.put(item)
        if item % 50 == 0:
            time.sleep(0.01)
    deadline = time.monotonic() + 10
    while buffer.counters().pending and time.monotonic() < deadline:
        time.sleep(0.01)
    buffer.close()
    consumer.join(5)

    counters = buffer.counters()
    assert counters.received == 500
    assert counters.pending == 0
    assert counters.processed + counters.dropped + counters.rejected == counters.received
    assert counters.dropped > 0 and counters.processed > 0
    assert taken == sorted(taken), 'items must come out in arrival order'
    assert taken[-1] == 500, 'the newest item is never the one dropped'


def test_buffer_get_waits_without_polling_and_wakes_on_put_wake_and_close():
    buffer = FrameBuffer()
    results = []
    waiter = threading.Thread(target=lambda: results.append(buffer.get()), daemon=True)
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive() and not results
    buffer.put('frame')
    waiter.join(2)
    assert results == ['frame']

    waiter = threading.Thread(target=lambda: results.append(buffer.get()), daemon=True)
    waiter.start()
    time.sleep(0.05)
    buffer.wake()
    waiter.join(2)
    assert results[-1] is None and not waiter.is_alive()

    buffer.close()
    started = time.monotonic()
    assert buffer.get() is None
    assert time.monotonic() - started < 0.5


def test_buffer_discard_and_reject():
    buffer = FrameBuffer()
    assert buffer.discard() is False
    buffer.put('a')
    assert buffer.discard() is True
    buffer.reject()
    assert buffer.counters() == BufferCounters(received=2, dropped=1, rejected=1)
    buffer.put('b')
    assert buffer.get(timeout=0) == 'b'
    buffer.mark_dropped()  # taken, then skipped for a newer frame
    assert buffer.counters() == BufferCounters(received=3, dropped=2, rejected=1)


# --- FrameHistory ---------------------------------------------------------------------------


def test_history_finds_recent_frames_by_stamp_and_forgets_old_ones():
    history = FrameHistory(3)
    for seq in range(1, 6):
        assert history.add(Frame(seq, seq * 100, msg=None)) is False
    assert history.find(100) is None and history.find(200) is None
    assert history.find(300).seq == 3 and history.find(500).seq == 5
    assert history.latest().seq == 5 and len(history) == 3


def test_history_is_cleared_when_stamps_go_backwards():
    history = FrameHistory(10)
    for seq in range(1, 4):
        history.add(Frame(seq, seq * 100, msg=None))
    assert history.add(Frame(4, 150, msg=None)) is True
    assert history.find(100) is None and history.find(300) is None
    assert history.find(150).seq == 4
    assert history.add(Frame(5, 250, msg=None)) is False


# --- TrackingSession ------------------------------------------------------------------------


@pytest.fixture(scope='module')
def one_thread():
    """One torch thread: on a shared 2-core machine that is faster, and fair to other tests."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def tracked(one_thread):
    """A session started on frame 0 and stepped over frames 1-2, with the outcomes."""
    session = TrackingSession(light_tracker)
    idle = session.step(SEQUENCE.frame(0))
    outcomes = [session.start(SEQUENCE.frame(0), SEQUENCE.box(0), 'track-1')]
    outcomes += [session.step(SEQUENCE.frame(i)) for i in (1, 2)]
    return session, idle, outcomes


def test_session_tracks_and_keeps_its_id(tracked):
    session, idle, outcomes = tracked
    assert idle.state == TrackState.IDLE
    assert outcomes[0].state == TrackState.TRACKING and outcomes[0].box == SEQUENCE.box(0)
    assert all(o.track_id == 'track-1' for o in outcomes)
    assert all(o.state in (TrackState.TRACKING, TrackState.LOST) for o in outcomes[1:])
    assert all(o.result is not None and o.processing_ms > 0 for o in outcomes)


def test_session_bad_box_failure_resize_and_reset(tracked):
    """One session through the unhappy paths, in order (each changes what the next sees)."""
    session, _, outcomes = tracked
    tracker = session.tracker
    with pytest.raises(ValueError, match='outside'):
        session.start(SEQUENCE.frame(3), (500.0, 500.0, 10.0, 10.0), 'track-2')
    assert session.tracker is tracker and session.track_id == 'track-1', 'state unchanged'

    failed = session.step(np.zeros((1, 1, 3), np.uint8))  # too small to re-initialise on
    assert failed.state == TrackState.FAILED
    assert failed.box == outcomes[-1].box and failed.error and 'Traceback' in failed.traceback
    assert session.tracker is tracker, 'a failed frame keeps the track'

    big = np.repeat(np.repeat(SEQUENCE.frame(3), 2, axis=0), 2, axis=1)
    resized = session.step(big)
    assert resized.reinitialised and resized.state == TrackState.TRACKING
    assert resized.track_id == 'track-1'
    np.testing.assert_allclose(resized.box, [2 * v for v in outcomes[-1].box], atol=1e-6)
    assert session.step(np.repeat(np.repeat(SEQUENCE.frame(4), 2, axis=0), 2, axis=1)).state \
        in (TrackState.TRACKING, TrackState.LOST)

    session.reset()
    assert not session.active and session.step(SEQUENCE.frame(5)).state == TrackState.IDLE


def test_session_out_of_memory_restarts_on_the_cpu(one_thread):
    """Out of memory in an update (injected: no GPU here) re-initialises on the CPU on the last
    box, same track; the factory is asked for the CPU explicitly."""
    import torch

    devices = []

    def factory(device=None):
        devices.append(device)
        return light_tracker()

    session = TrackingSession(factory)
    start = session.start(SEQUENCE.frame(0), SEQUENCE.box(0), 'track-1')
    tracker = session.tracker

    def fail(image, on_estimate=None):
        raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')

    tracker.track = fail
    outcome = session.step(SEQUENCE.frame(1))
    assert outcome.state == TrackState.TRACKING and outcome.reinitialised
    assert outcome.track_id == 'track-1' and outcome.box == start.box
    assert 'out of memory during an update' in outcome.warning and outcome.traceback
    assert session.tracker is not tracker and devices == [None, 'cpu']

    # What /diagnostics shows of a tracker: its pools' fill, and the process's memory.
    pools = tracker_pools(session.tracker)
    assert set(pools) == {'positive', 'negative'}
    assert all(0 < size <= capacity for size, capacity in pools.values())
    assert tracker_pools(None) == {}
    rss = resident_memory_mb()
    assert rss is None or rss > 10
    keys = dict(key_values(TrackerSnapshot(pools=pools, rss_mb=rss)))
    assert keys['positive_pool'] == '{}/{}'.format(*pools['positive'])
    assert 'memory_rss_mb' in keys


# --- diagnostics, reporting, debug image ------------------------------------------------------


@pytest.mark.parametrize('snapshot, level, words', [
    (TrackerSnapshot(state='idle'), LEVEL_OK, 'idle'),
    (TrackerSnapshot(state='stopped'), LEVEL_OK, 'stopped'),
    (TrackerSnapshot(state='tracking', track_id='t-1', quality=0.9, low_quality=0.85),
     LEVEL_OK, 't-1'),
    (TrackerSnapshot(state='tracking', quality=0.5, low_quality=0.85), LEVEL_WARN, 'quality'),
    (TrackerSnapshot(state='idle', rejected_recently=3), LEVEL_WARN, '3 frame(s) rejected'),
    (TrackerSnapshot(state='lost', confidence=0.1), LEVEL_ERROR, 'lost'),
    (TrackerSnapshot(state='lost', rejected_recently=2), LEVEL_ERROR, '2 frame(s) rejected'),
    (TrackerSnapshot(state='failed'), LEVEL_ERROR, 'failed'),
])
def test_diagnostic_levels(snapshot, level, words):
    got_level, message = level_and_message(snapshot)
    assert got_level == level and words in message


def test_diagnostic_key_values_cover_what_operators_need():
    keys = [k for k, _ in key_values(TrackerSnapshot())]
    for key in ('quality', 'score', 'confidence', 'state', 'fps', 'latency_ms',
                'frames_received', 'frames_processed', 'frames_dropped', 'frames_rejected',
                'updates', 'device', 'track_id'):
        assert key in keys


def test_rate_meter():
    meter = RateMeter(window=5)
    assert meter.rate() == 0.0
    for i in range(5):
        meter.tick(10.0 + i * 0.1)
    assert meter.rate() == pytest.approx(10.0)
    meter.tick(3.0)  # a simulated clock went back: the window starts afresh
    assert meter.rate() == 0.0
    meter.tick(3.5)
    assert meter.rate() == pytest.approx(2.0)


def test_heap_trimmer_trims_when_forced_or_after_its_period():
    now = [100.0]
    trimmer = HeapTrimmer(period=10.0, clock=lambda: now[0])
    assert not trimmer.after_frame()
    assert trimmer.after_frame(force=True)  # a tracker was just freed
    now[0] = 105.0
    assert not trimmer.after_frame()
    now[0] = 111.0
    assert trimmer.after_frame() and trimmer.trims == 2
    trim()  # callable wherever it runs; a no-op without glibc
    assert isinstance(trim_available(), bool)


def test_cause_reporter_logs_each_cause_once_then_summaries():
    now = [0.0]
    lines = []
    reporter = CauseReporter(lines.append, interval=10.0, clock=lambda: now[0])
    assert reporter.report('a', 'bad a', 'details')
    assert not reporter.report('a', 'bad a')
    assert reporter.report('b', 'bad b')
    now[0] = 11.0
    assert reporter.report('a', 'bad a')
    assert lines == ['bad a\ndetails', 'bad b',
                     'bad a (2 more since the last report, 3 in all)']
    assert reporter.count('a') == 3


def test_debug_image_draws_box_particles_and_quality(tracked):
    from deeptrack_ros.ros import debug_image

    frame = SEQUENCE.frame(0)
    outcome = tracked[2][1]
    picture = debug_image.render(SEQUENCE.frame(1), outcome)
    assert picture.shape == frame.shape and picture.dtype == np.uint8
    assert not np.array_equal(picture, SEQUENCE.frame(1))
    x, y, _, _ = (int(v) for v in outcome.box)
    assert tuple(picture[min(y + 1, 119), min(x + 5, 159)]) == (40, 220, 40)
    gray = debug_image.render(SEQUENCE.frame(1)[:, :, 0], outcome)
    assert gray.shape == frame.shape
    colours = debug_image.heat_colours(np.array([0.0, 1.0, np.nan]))
    assert tuple(colours[0]) == (0, 0, 255) and tuple(colours[1]) == (255, 0, 0)


def test_synthetic_sequence_is_deterministic_and_moves_and_scales():
    a, b = SyntheticSequence(count=30, seed=4), SyntheticSequence(count=30, seed=4)
    np.testing.assert_array_equal(a.frame(7), b.frame(7))
    boxes = a.boxes()
    assert boxes[:, 2].max() > boxes[:, 2].min() + 5, 'the target changes scale'
    assert np.abs(np.diff(boxes[:, 0])).max() > 0, 'the target moves'
    x, y, w, h = (int(v) for v in a.box(7))
    patch = a.frame(7)[y:y + h, x:x + w].astype(float)
    assert patch[..., 0].mean() > 150, 'the target is bright red/yellow, unlike the background'
