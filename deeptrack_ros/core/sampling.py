"""The particle motion model (Sec. II-C, IV-A): Gaussian states around the last estimate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from deeptrack_ros.core.config import TrackerConfig


@dataclass(frozen=True)
class TargetState:
    """Box centre and height; the width follows from the aspect ratio fixed at initialisation."""

    cx: float
    cy: float
    height: float
    aspect: float

    @property
    def width(self) -> float:
        return self.height * self.aspect

    def box(self) -> tuple[float, float, float, float]:
        return (self.cx - self.width / 2.0, self.cy - self.height / 2.0, self.width, self.height)

    @classmethod
    def from_box(cls, box: tuple[float, float, float, float],
                 aspect: float | None = None) -> 'TargetState':
        x, y, w, h = box
        return cls(x + w / 2.0, y + h / 2.0, h, w / h if aspect is None else aspect)


def position_sigma(height: float, config: TrackerConfig) -> float:
    """min(10, 0.5 h): the deviation of x and y. Without the cap (`sigma_xy_max` 0) it is a
    fraction of the height alone: a target moves as many of its own sizes a frame at every
    camera resolution and distance, while pixels a frame double with the resolution."""
    fraction = config.sigma_xy_height_fraction * height
    return min(config.sigma_xy_max, fraction) if config.sigma_xy_max > 0 else fraction


def draw_particles(state: TargetState, count: int, config: TrackerConfig,
                   rng: np.random.Generator, image_size: tuple[int, int],
                   position_spread: float = 1.0) -> np.ndarray:
    """Draw `count` boxes (x, y, w, h) around the state.

    x, y ~ N(c, sigma_xy) and h' = h (1 + sigma_s z) (the relative reading of the paper's
    "0.01 h"); with position_truncation the position offsets are cut at that many sigma (the
    region dense scoring covers then no longer grows with the rarest draws). Centres are kept
    inside the image and heights above the minimum size, so that no particle describes an
    impossible box.
    """
    sigma = position_sigma(state.height, config) * position_spread
    noise = rng.standard_normal((count, 3))
    if config.position_truncation > 0:
        limit = config.position_truncation
        noise[:, :2] = np.clip(noise[:, :2], -limit, limit)
    cx = state.cx + sigma * noise[:, 0]
    cy = state.cy + sigma * noise[:, 1]
    height = state.height * (1.0 + config.sigma_scale * noise[:, 2])
    min_height = max(config.min_object_size, config.min_object_size / state.aspect)
    height = np.maximum(height, min_height)
    width = height * state.aspect
    img_h, img_w = image_size
    cx = np.clip(cx, 0.0, float(img_w))
    cy = np.clip(cy, 0.0, float(img_h))
    return np.stack([cx - width / 2.0, cy - height / 2.0, width, height], axis=1)


def motion_prior_scores(boxes: torch.Tensor, scores: torch.Tensor,
                        centres: Sequence[tuple[float, float]], sigma: float) -> torch.Tensor:
    """Positive scores times max_k exp(-d_k^2 / (2 sigma^2)), d_k the box centre's distance to
    the k-th of `centres` (one centre, or where the target may be under each motion
    hypothesis: see `TrackerConfig.camera_motion_share`).

    Eq. 7 takes the best particle whatever its distance, so a distractor that scores a little
    higher than the target anywhere in the search region wins. Weighting by a Gaussian prior
    on the displacement makes the choice a maximum a posteriori one. Non-positive scores (no
    evidence of the target) are left as they are, so they stay below every positive one.
    """
    box_x = boxes[:, 0] + boxes[:, 2] / 2.0
    box_y = boxes[:, 1] + boxes[:, 3] / 2.0
    spread = 2.0 * max(sigma, 1e-6) ** 2
    prior = torch.zeros_like(scores)
    for centre_x, centre_y in centres:
        dx, dy = box_x - centre_x, box_y - centre_y
        prior = torch.maximum(prior, torch.exp(-(dx * dx + dy * dy) / spread))
    return torch.where(scores > 0, scores * prior, scores)


def scaled_boxes(box: tuple[float, float, float, float], count: int, max_factor: float,
                 rng: np.random.Generator) -> np.ndarray:
    """`count` copies of `box` scaled about its centre by factors log-uniform in
    [1 / max_factor, max_factor] (aspect ratio kept).

    Samples that differ from the target only in scale: with them labelled by IoU, the network
    learns that a box half or twice the target's size is not the target, which particles
    drawn with a 1 % scale deviation never show it.
    """
    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    factors = np.exp(rng.uniform(-np.log(max_factor), np.log(max_factor), count))
    width, height = w * factors, h * factors
    return np.stack([cx - width / 2.0, cy - height / 2.0, width, height], axis=1)
