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

A frame taken fresh is not quite fresh: between its arrival and the worker's first step on it
the woken thread has to get the interpreter back from the executor that delivered it (a few
milliseconds with both on two cores). The policy learns that hand-over delay from the frames
it waited for, and waits only where a frame taken after that delay would make the budget.
And it waits once per frame at most: the frame that came during a wait is tracked whatever
its age. Without both, a detection cost just under the budget made every fresh frame look
too old by the hand-over delay, and the worker dropped frame after frame waiting for one that
never came (in 3 of 12 runs of the node benchmark at 60 Hz on a 2-core AMD EPYC, 8 to 24
frames were tracked in the 10 to 14 s of camera, against 190 to 530 in the others).
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
        self._handovers: deque[float] = deque(maxlen=MEMORY)
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

    def frame_handed_over(self, age: float) -> None:
        """Note how old a frame the worker waited for was when the worker got it."""
        with self._lock:
            self._handovers.append(max(0.0, age))

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

    def handover_delay(self) -> float:
        """Median age (s) of a waited-for frame when the worker got it; 0 before any."""
        with self._lock:
            return float(np.median(self._handovers)) if self._handovers else 0.0

    def wait_for_newer(self, received_at: float) -> float | None:
        """Seconds to wait for a frame newer than the one received at `received_at` (the
        newest so far), or None to track this one now: it makes the budget, or no frame
        would (the tracker is too slow for the budget at this camera rate, the hand-over
        delay included), or too little is known yet."""
        if self.budget_periods <= 0:
            return None
        known = self.estimates()
        if known is None:
            return None
        period, cost = known
        budget = self.budget_periods * period
        if self.handover_delay() + cost >= budget:
            return None
        age = self._clock() - received_at
        if age + cost <= budget:
            return None
        with self._lock:
            self._waits += 1
        due = received_at + period - self._clock()
        return max(0.0, due) + WAIT_SLACK * period


def take_fresh(buffer: FrameBuffer[T], item: T, policy: FreshnessPolicy | None,
               arrival_of: Callable[[T], float],
               clock: Callable[[], float] = time.monotonic) -> T:
    """`item` (just taken from `buffer`), or a newer frame the policy chose to wait for.

    A newer frame replaces `item`, which is counted as dropped on the buffer, and is returned
    whatever its age (one wait at most: see the module doc); its age on arrival here is the
    policy's hand-over delay (`clock` must be the clock of `arrival_of`). When none comes
    within the wait (or the buffer is woken for a command or closed) `item` is returned and
    stays the one in flight.
    """
    if policy is None:
        return item
    wait = policy.wait_for_newer(arrival_of(item))
    if wait is None:
        return item
    newer = buffer.get(timeout=wait)
    if newer is None:
        return item
    policy.frame_handed_over(clock() - arrival_of(newer))
    buffer.mark_dropped()  # `item`: skipped for a fresher one, never tracked
    return newer
