"""Typed results of the tracker: what one frame produced and how long each stage took."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[float, float, float, float]
"""0-based (x, y, w, h) in pixels; x right, y down; (x, y) is the top-left corner."""


@dataclass(frozen=True)
class StageTimings:
    """Wall time of each stage of one frame, in milliseconds."""

    cues: float = 0.0
    crop: float = 0.0
    score: float = 0.0
    train: float = 0.0

    @property
    def total(self) -> float:
        return self.cues + self.crop + self.score + self.train


@dataclass(frozen=True)
class TrackResult:
    """What the tracker reports for one frame.

    `score` is the raw DeepTrack score S = s1 * exp(s1 - s2) of the estimate (Eq. 1);
    `confidence` maps it to [0, 1] for consumers such as vision_msgs hypotheses.
    `quality` is the tracking quality Q of Eq. 15 (1 = one sharp peak).
    `reliability` is `confidence` over the median confidence of the last frames that were
    not lost; `learned` says whether this frame's samples entered the pools (see
    `TrackerConfig.update_min_reliability`). `loss` is the training loss after the lazy
    update (0 when the frame was not learned).
    """

    frame_index: int
    box: Box
    score: float
    confidence: float
    quality: float
    updated: bool
    iterations: int
    loss: float
    lost: bool
    reliability: float = 1.0
    learned: bool = True
    timings: StageTimings = field(default_factory=StageTimings)
    particles: np.ndarray | None = field(default=None, repr=False, compare=False)
    particle_scores: np.ndarray | None = field(default=None, repr=False, compare=False)
