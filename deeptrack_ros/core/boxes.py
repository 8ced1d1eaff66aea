"""Box conventions and overlap, shared by the tracker, its loss and the evaluation.

Boxes are 0-based (x, y, w, h) in continuous pixel coordinates: pixel (i, j) covers
[i, i + 1) x [j, j + 1), so a box (0, 0, W, H) is exactly a W x H image.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from deeptrack_ros.core.result import Box


def validate_box(box: Sequence[float], image_shape: Sequence[int] | None = None) -> Box:
    """Check an initial box and return it as floats, clipped to the image when one is given.

    A box must be four finite numbers with positive size; with the image's shape (rows,
    cols, ...) it must also overlap the image. A box only partly inside is clipped (a user's
    click near the border should still start tracking). The node and the evaluation reuse
    this check so that every entry point refuses the same boxes with the same reasons.
    """
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError) as exc:
        raise ValueError(f'box must be 4 numbers (x, y, w, h), got {box!r}') from exc
    if len(values) != 4:
        raise ValueError(f'box must be 4 numbers (x, y, w, h), got {len(values)} values')
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f'box must be finite, got {tuple(values)}')
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise ValueError(f'box is empty: it needs a positive size, got w={w:g}, h={h:g}')
    if image_shape is None:
        return (x, y, w, h)
    height, width = int(image_shape[0]), int(image_shape[1])
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        raise ValueError(
            f'box {tuple(values)} lies wholly outside the {width}x{height} image')
    return (x0, y0, x1 - x0, y1 - y0)


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union (Eq. 4) of boxes a (..., 4) and b (..., 4), broadcasting."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ix = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    iy = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(ix, 0.0, None) * np.clip(iy, 0.0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def iou_torch(boxes: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """IoU of boxes (N, 4) against one reference box (4,), on the boxes' device."""
    ix = (torch.minimum(boxes[:, 0] + boxes[:, 2], ref[0] + ref[2])
          - torch.maximum(boxes[:, 0], ref[0]))
    iy = (torch.minimum(boxes[:, 1] + boxes[:, 3], ref[1] + ref[3])
          - torch.maximum(boxes[:, 1], ref[1]))
    inter = ix.clamp(min=0) * iy.clamp(min=0)
    union = boxes[:, 2] * boxes[:, 3] + ref[2] * ref[3] - inter
    return inter / union.clamp(min=1e-12)


def center_of(box: Sequence[float]) -> tuple[float, float]:
    """Centre (cx, cy) of an (x, y, w, h) box."""
    return (box[0] + box[2] / 2.0, box[1] + box[3] / 2.0)
