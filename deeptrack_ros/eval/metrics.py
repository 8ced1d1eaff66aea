"""OTB one-pass metrics: centre error, IoU, precision and success curves.

Boxes are 0-based (x, y, w, h) pixel arrays of shape (N, 4); a box covers [x, x + w) x [y, y + h).
This continuous convention gives exactly the numbers of the OTB MATLAB toolkit, whose 1-based
"x + w - 1" right edges and "+ 1" widths cancel out in both the overlap and the centre distance.

- precision: share of scored frames whose centre error is <= the threshold (0..50 px; the
  headline value is P@20);
- success: share of scored frames whose IoU is > the threshold (0, 0.05, ..., 1: 21 thresholds,
  strictly greater as in OTB); AUC is the mean of that curve; SR@0.5 / SR@0.6 its values there.

Frames whose ground truth is invalid (zero size, NaN) are excluded from every share: they carry
no information about where the target is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deeptrack_ros.eval.sequences import valid_boxes

PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
"""Location-error thresholds of the precision plot (px)."""
SUCCESS_THRESHOLDS = np.arange(21, dtype=np.float64) / 20.0
"""Overlap thresholds of the success plot (i / 20, so 0.15 is exactly the float 0.15)."""
PRECISION_AT = 20.0


def _as_boxes(boxes: np.ndarray) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def centres(boxes: np.ndarray) -> np.ndarray:
    """(N, 2) centres (x + w / 2, y + h / 2)."""
    b = _as_boxes(boxes)
    return b[:, :2] + b[:, 2:] / 2.0


def centre_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance between box centres, per frame (px)."""
    return np.linalg.norm(centres(pred) - centres(gt), axis=1)


def iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Intersection over union per frame; 0 where either box is empty (no division by 0)."""
    a, b = _as_boxes(pred), _as_boxes(gt)
    left = np.maximum(a[:, 0], b[:, 0])
    top = np.maximum(a[:, 1], b[:, 1])
    right = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    bottom = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_a = np.clip(a[:, 2], 0, None) * np.clip(a[:, 3], 0, None)
    area_b = np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None)
    union = area_a + area_b - inter
    out = np.zeros(len(a))
    np.divide(inter, union, out=out, where=union > 0)
    return np.nan_to_num(out, nan=0.0)


def precision_curve(errors: np.ndarray,
                    thresholds: np.ndarray = PRECISION_THRESHOLDS) -> np.ndarray:
    """Share of frames with centre error <= each threshold (NaN errors never count)."""
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        return np.zeros(len(thresholds))
    errors = np.where(np.isfinite(errors), errors, np.inf)
    return (errors[None, :] <= thresholds[:, None]).mean(axis=1)


def success_curve(overlaps: np.ndarray,
                  thresholds: np.ndarray = SUCCESS_THRESHOLDS) -> np.ndarray:
    """Share of frames with IoU strictly above each threshold."""
    overlaps = np.nan_to_num(np.asarray(overlaps, dtype=np.float64), nan=0.0)
    if overlaps.size == 0:
        return np.zeros(len(thresholds))
    return (overlaps[None, :] > thresholds[:, None]).mean(axis=1)


@dataclass(frozen=True)
class SequenceScore:
    """Curves and headline numbers of one tracker on one sequence."""

    precision: np.ndarray
    """Precision at `PRECISION_THRESHOLDS`."""
    success: np.ndarray
    """Success rate at `SUCCESS_THRESHOLDS`."""
    scored: int
    """Frames that had valid ground truth."""

    @property
    def precision20(self) -> float:
        return float(self.precision[int(PRECISION_AT)])

    @property
    def success_auc(self) -> float:
        return float(self.success.mean())

    def success_at(self, threshold: float) -> float:
        """Success rate at one of the 21 thresholds (0.5 and 0.6 are reported)."""
        index = int(round(threshold * 20))
        if not np.isclose(SUCCESS_THRESHOLDS[index], threshold):
            raise ValueError(f'{threshold} is not one of the success thresholds')
        return float(self.success[index])


def score_sequence(pred: np.ndarray, gt: np.ndarray) -> SequenceScore:
    """Score predictions against ground truth of the same length, skipping invalid GT rows."""
    pred, gt = _as_boxes(pred), _as_boxes(gt)
    if len(pred) != len(gt):
        raise ValueError(f'{len(pred)} predictions for {len(gt)} ground-truth boxes')
    keep = valid_boxes(gt)
    p, g = pred[keep], gt[keep]
    return SequenceScore(precision_curve(centre_error(p, g)), success_curve(iou(p, g)),
                         int(keep.sum()))


def mean_curves(scores: list[SequenceScore]) -> tuple[np.ndarray, np.ndarray]:
    """Average precision and success curves over sequences (each sequence weighs the same,
    as in the OTB plots)."""
    if not scores:
        return np.zeros(len(PRECISION_THRESHOLDS)), np.zeros(len(SUCCESS_THRESHOLDS))
    return (np.mean([s.precision for s in scores], axis=0),
            np.mean([s.success for s in scores], axis=0))
