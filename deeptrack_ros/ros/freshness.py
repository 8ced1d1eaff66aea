"""Which frame the tracking thread works on next, so detections stay within a lag budget.

Why: the worker takes the newest frame when it becomes free. With a camera faster than the
tracker that frame has already waited up to one camera period, and its detection comes out
after cues and scoring (about 20 ms on two cores). At 60 Hz (16.7 ms a period) a frame that
waited more than about 10 ms therefore has its detection published three images behind the
newest one, past the two a servoing controller is promised (`max_lag_periods`). When the
frame at hand is too old for its detection to make the budget, and a frame taken fresh
would make it, waiting the few milliseconds until the next frame arrives and dropping this
one gives a fresher detection; the price is that wait, a small share of the throughput.

The policy learns the camera period from arrival times (median gap) and the time from taking
a frame to its detection (a high percentile, so that it errs towards waiting) from the
worker's own measurements; until it has seen enough of both it never waits. It only decides;
`take_fresh` does the waiting on the real `FrameBuffer`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, TypeVar

import numpy as np

from deeptrack_ros.ros.frame_buffer import FrameBuffer

T = TypeVar('T')

MEMORY = 30
"""Arrival gaps and detection times the estimates are taken over."""
MIN_SAMPLES = 5
"""Gaps and detection times needed before the policy ever waits."""
COST_PERCENTILE = 90.0
"""Percentile of recent detection times taken as what the next one will cost."""
WAIT_SLACK = 0.25
"""Extra wait beyond the next frame's expected arrival, in periods (camera jitter)."""


class FreshnessPolicy:
    """Decides whether to wait for a newer frame (see the module doc); thread-safe.

    `budget_periods`: the lag allowed between a detection and its image, in camera periods
    (0 = never wait).
    """

    def __init__(self, budget_periods: float, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        if budget_periods < 0:
            raise ValueError(f'budget_periods must be >= 0, got {budget_periods}')
        self.budget_periods = budget_periods
        self._clock = clock
        self._lock = threading.Lock()
        self._last_arrival: float | None = None
        self._gaps: deque[float] = deque(maxlen=MEMORY)
        self._costs: deque[float] = deque(maxlen=MEMORY)
        self._waits = 0

    def frame_arrived(self, received_at: float) -> None:
        """Note a frame's arrival (every frame, taken or not): the camera period."""
        with self._lock:
            if self._last_arrival is not None and received_at > self._last_arrival:
                self._gaps.append(received_at - self._last_arrival)
            self._last_arrival = received_at

    def detection_took(self, seconds: float) -> None:
        """Note how long a taken frame took to its detection."""
        with self._lock:
            self._costs.append(max(0.0, seconds))

    @property
    def waits(self) -> int:
        """How often `wait_for_newer` said to wait."""
        with self._lock:
            return self._waits

    def estimates(self) -> tuple[float, float] | None:
        """(camera period, detection cost) in seconds, or None while either is unknown."""
        with self._lock:
            if len(self._gaps) < MIN_SAMPLES or len(self._costs) < MIN_SAMPLES:
                return None
            return (float(np.median(self._gaps)),
                    float(np.percentile(self._costs, COST_PERCENTILE)))

    def wait_for_newer(self, received_at: float) -> float | None:
        """Seconds to wait for a frame newer than the one received at `received_at` (the
        newest so far), or None to track this one now: it makes the budget, or no frame
        would (the tracker is too slow for the budget at this camera rate), or too little
        is known yet."""
        if self.budget_periods <= 0:
            return None
        known = self.estimates()
        if known is None:
            return None
        period, cost = known
        budget = self.budget_periods * period
        if cost >= budget:
            return None
        age = self._clock() - received_at
        if age + cost <= budget:
            return None
        with self._lock:
            self._waits += 1
        due = received_at + period - self._clock()
        return max(0.0, due) + WAIT_SLACK * period


def take_fresh(buffer: FrameBuffer[T], item: T, policy: FreshnessPolicy | None,
               arrival_of: Callable[[T], float]) -> T:
    """`item` (just taken from `buffer`), or a newer frame the policy chose to wait for.

    A newer frame replaces `item`, which is counted as dropped on the buffer; when none comes
    within the wait (or the buffer is woken for a command or closed) `item` is returned and
    stays the one in flight. `arrival_of` reads a frame's arrival time.
    """
    if policy is None:
        return item
    wait = policy.wait_for_newer(arrival_of(item))
    while wait is not None:
        newer = buffer.get(timeout=wait)
        if newer is None:
            return item
        buffer.mark_dropped()  # `item`: skipped for a fresher one, never tracked
        item = newer
        wait = policy.wait_for_newer(arrival_of(item))
    return item
