"""The node's health for /diagnostics: one DiagnosticStatus built from a snapshot.

Why a snapshot: the values come from two threads (the worker publishes outcomes, the executor
counts frames); the node copies them under a lock into a `TrackerSnapshot`, and everything
here is then a pure function that tests can call without ROS running.

Levels, from most to least severe:
- ERROR when the target is lost, or the tracker failed on the last frame;
- WARN when the tracking quality Q is below the config's `low_quality`, or when frames were
  rejected (bad encoding, malformed) since the previous report;
- OK otherwise, including idle and stopped (no target is not a fault).
The message names every condition present, whatever the level.

Besides the tracking figures, a report carries what a long run needs watched: the sample
pools' fill (`positive_pool`, `negative_pool` as size/capacity; bounded by the configured pool
sizes) and the process's resident memory (`memory_rss_mb`), so that a leak or an unbounded
pool shows in /diagnostics long before the robot runs out of memory.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from deeptrack_ros.ros.frame_buffer import BufferCounters

STATE_NAMES = ('idle', 'tracking', 'lost', 'failed')
LEVEL_OK, LEVEL_WARN, LEVEL_ERROR = b'\x00', b'\x01', b'\x02'


@dataclass(frozen=True)
class TrackerSnapshot:
    """Everything a diagnostics report shows, copied at one instant."""

    state: str = 'idle'
    track_id: str = ''
    quality: float = 0.0
    score: float = 0.0
    confidence: float = 0.0
    fps: float = 0.0
    latency_ms: float = 0.0
    counters: BufferCounters = field(default_factory=BufferCounters)
    updates: int = 0
    inits_rejected: int = 0
    rejected_recently: int = 0
    low_quality: float = 0.0
    device: str = ''
    pools: dict[str, tuple[int, int]] = field(default_factory=dict)
    rss_mb: float | None = None


def level_and_message(snapshot: TrackerSnapshot) -> tuple[bytes, str]:
    """The DiagnosticStatus level and one-line summary for `snapshot` (see module doc).

    The most severe condition sets the level, but every condition present is named in the
    message: rejected frames while the target is lost must still be visible to an operator
    (otherwise the report that consumed the rejection count would hide it for good).
    """
    state = snapshot.state
    level = LEVEL_OK
    problems = []
    if state == 'lost':
        level = LEVEL_ERROR
        problems.append(f'target lost (confidence {snapshot.confidence:.2f})')
    elif state == 'failed':
        level = LEVEL_ERROR
        problems.append('the tracker failed on the last frame')
    elif state == 'tracking' and snapshot.quality < snapshot.low_quality:
        level = LEVEL_WARN
        problems.append(f'low tracking quality Q={snapshot.quality:.2f} '
                        f'(< {snapshot.low_quality:g})')
    if snapshot.rejected_recently:
        level = max(level, LEVEL_WARN)
        problems.append(f'{snapshot.rejected_recently} frame(s) rejected since the last report')
    if problems:
        return level, '; '.join(problems)
    if state == 'tracking':
        return LEVEL_OK, f'tracking {snapshot.track_id}'
    return LEVEL_OK, state


def key_values(snapshot: TrackerSnapshot) -> list[tuple[str, str]]:
    """The (key, value) pairs of the report, in a fixed order."""
    counters = snapshot.counters
    return [
        ('state', snapshot.state),
        ('track_id', snapshot.track_id),
        ('quality', f'{snapshot.quality:.4f}'),
        ('score', f'{snapshot.score:.4f}'),
        ('confidence', f'{snapshot.confidence:.4f}'),
        ('fps', f'{snapshot.fps:.2f}'),
        ('latency_ms', f'{snapshot.latency_ms:.1f}'),
        ('frames_received', str(counters.received)),
        ('frames_processed', str(counters.processed)),
        ('frames_dropped', str(counters.dropped)),
        ('frames_rejected', str(counters.rejected)),
        ('inits_rejected', str(snapshot.inits_rejected)),
        ('updates', str(snapshot.updates)),
        ('device', snapshot.device),
        *((f'{name}_pool', f'{size}/{capacity}')
          for name, (size, capacity) in sorted(snapshot.pools.items(), reverse=True)),
        ('memory_rss_mb', '' if snapshot.rss_mb is None else f'{snapshot.rss_mb:.1f}'),
    ]


def tracker_pools(tracker: Any) -> dict[str, tuple[int, int]]:
    """{'positive': (size, capacity), 'negative': (...)} of a tracker's sample pools.

    Uses the tracker's `pool_sizes()` when it has one, else its `positives` / `negatives`
    pools (`size`, `capacity`); empty when neither is there (an uninitialised tracker).
    """
    if tracker is None:
        return {}
    accessor = getattr(tracker, 'pool_sizes', None)
    if callable(accessor):
        return {str(k): (int(v[0]), int(v[1])) for k, v in accessor().items()}
    pools = {}
    for name, attribute in (('positive', 'positives'), ('negative', 'negatives')):
        pool = getattr(tracker, attribute, None)
        if pool is not None and hasattr(pool, 'size') and hasattr(pool, 'capacity'):
            pools[name] = (int(pool.size), int(pool.capacity))
    return pools


def resident_memory_mb(pid: int | str = 'self') -> float | None:
    """Resident memory (RSS) of a process in MiB, from /proc; None where there is no /proc."""
    try:
        with open(f'/proc/{pid}/statm', encoding='ascii') as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def diagnostic_array(snapshot: TrackerSnapshot, name: str, stamp: object) -> object:
    """A DiagnosticArray holding one DiagnosticStatus for the tracker named `name`."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    level, message = level_and_message(snapshot)
    status = DiagnosticStatus(level=level, name=name, message=message,
                              hardware_id=snapshot.device)
    status.values = [KeyValue(key=k, value=v) for k, v in key_values(snapshot)]
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = [status]
    return array


class RateMeter:
    """Frames per second over the last `window` events; thread-safe."""

    def __init__(self, window: int = 30) -> None:
        self._times: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        """Count one event at `now` (seconds on any clock; time.monotonic() by default).

        A time earlier than the last one (a simulated clock reset, a bag loop) starts the
        window afresh rather than reporting a rate across the jump.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._times and now < self._times[-1]:
                self._times.clear()
            self._times.append(now)

    def rate(self) -> float:
        with self._lock:
            if len(self._times) < 2 or self._times[-1] <= self._times[0]:
                return 0.0
            return (len(self._times) - 1) / (self._times[-1] - self._times[0])
