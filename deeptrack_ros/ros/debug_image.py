"""The optional ~/debug_image: what the tracker saw and thought, drawn on the frame.

Drawn: the particles of this frame as dots coloured by their score (blue = worst, red = best,
the best drawn last so they stay visible), the estimated box (green while tracking, red when
lost, orange when the tracker failed), a bar along the top whose length is the quality Q, and,
when OpenCV is importable, a text line with Q, the score and the state. Everything else is
plain numpy, so the image works without OpenCV too (the bar then carries Q).

It costs a copy of the frame and a few milliseconds, which is why it is off by default
(`publish_debug_image`), and skipped while nobody subscribes.
"""

from __future__ import annotations

import numpy as np

from deeptrack_ros.ros.session import FrameOutcome, TrackState

try:
    import cv2
except ImportError:  # pragma: no cover - opencv is a dependency, but optional here
    cv2 = None

BOX_COLOURS = {
    TrackState.TRACKING: (40, 220, 40),
    TrackState.LOST: (230, 30, 30),
    TrackState.FAILED: (255, 150, 0),
    TrackState.IDLE: (200, 200, 200),
}


def render(image: np.ndarray, outcome: FrameOutcome) -> np.ndarray:
    """An HxWx3 uint8 RGB picture of `outcome` over `image` (RGB or gray)."""
    canvas = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image.copy()
    result = outcome.result
    if result is not None and result.particles is not None and result.particle_scores is not None:
        _draw_particles(canvas, np.asarray(result.particles),
                        np.asarray(result.particle_scores, dtype=np.float64))
    if outcome.box is not None:
        _draw_box(canvas, outcome.box, BOX_COLOURS[outcome.state])
    quality = result.quality if result is not None else 0.0
    _draw_quality_bar(canvas, quality)
    if cv2 is not None and result is not None:
        text = f'Q {quality:.2f}  S {result.score:.2f}  {outcome.state.name.lower()}'
        cv2.putText(canvas, text, (3, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return canvas


def heat_colours(scores: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 colours from blue (lowest score) to red (highest), scores min-max scaled."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    low = scores[finite].min() if finite.any() else 0.0
    high = scores[finite].max() if finite.any() else 1.0
    t = np.where(finite, (scores - low) / (high - low) if high > low else 1.0, 0.0)
    t = np.clip(t, 0.0, 1.0)
    red = 255 * t
    green = 255 * (1.0 - np.abs(2.0 * t - 1.0))
    blue = 255 * (1.0 - t)
    return np.stack([red, green, blue], axis=1).astype(np.uint8)


def _draw_particles(canvas: np.ndarray, particles: np.ndarray, scores: np.ndarray) -> None:
    """A dot at each particle's centre, worst first."""
    if particles.size == 0:
        return
    order = np.argsort(np.nan_to_num(scores, nan=-np.inf))
    colours = heat_colours(scores)[order]
    centres = particles[order, :2] + particles[order, 2:4] / 2.0
    height, width = canvas.shape[:2]
    cols = np.clip(np.floor(centres[:, 0]).astype(int), 0, width - 1)
    rows = np.clip(np.floor(centres[:, 1]).astype(int), 0, height - 1)
    canvas[rows, cols] = colours


def _draw_box(canvas: np.ndarray, box: tuple[float, float, float, float],
              colour: tuple[int, int, int], thickness: int = 2) -> None:
    """The outline of a 0-based (x, y, w, h) box, clipped to the image."""
    height, width = canvas.shape[:2]
    x0 = int(np.clip(np.floor(box[0]), 0, width - 1))
    y0 = int(np.clip(np.floor(box[1]), 0, height - 1))
    x1 = int(np.clip(np.ceil(box[0] + box[2]) - 1, 0, width - 1))
    y1 = int(np.clip(np.ceil(box[1] + box[3]) - 1, 0, height - 1))
    t = thickness
    canvas[y0:min(y0 + t, y1 + 1), x0:x1 + 1] = colour
    canvas[max(y1 - t + 1, y0):y1 + 1, x0:x1 + 1] = colour
    canvas[y0:y1 + 1, x0:min(x0 + t, x1 + 1)] = colour
    canvas[y0:y1 + 1, max(x1 - t + 1, x0):x1 + 1] = colour


def _draw_quality_bar(canvas: np.ndarray, quality: float, height: int = 3) -> None:
    """A bar along the top edge, as long as Q times the image width."""
    q = float(np.clip(quality if np.isfinite(quality) else 0.0, 0.0, 1.0))
    canvas[:height, :] = (40, 40, 40)
    canvas[:height, :int(round(q * canvas.shape[1]))] = (255, 255, 0)
