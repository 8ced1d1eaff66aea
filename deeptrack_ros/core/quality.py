"""Tracking quality Q of a frame, without ground truth (Eq. 15-16)."""

from __future__ import annotations

import torch

from deeptrack_ros.core.boxes import iou_torch
from deeptrack_ros.core.config import TrackerConfig
from deeptrack_ros.core.loss import labels_and_importance, truncated_sq_error


def tracking_quality(scores: torch.Tensor, outputs: torch.Tensor, boxes: torch.Tensor,
                     estimate: torch.Tensor, best_score: float,
                     config: TrackerConfig) -> float:
    """Q = 1 - (1/|P|) sum_{n in P} Theta(y_n, y*) ||f(x_n) - l_n||_T.

    P holds the particles scoring above v * S* (Eq. 16); each is labelled against the estimate
    y* (Eq. 6). High-scoring particles far from the estimate are labelled negative yet predicted
    positive, so several separated peaks (ambiguity, occlusion) lower Q. A frame whose best
    score is not positive has no peak at all and gets Q = 0. Q is clipped to [0, 1].
    """
    if best_score <= 0.0:
        return 0.0
    members = scores > config.quality_v * best_score
    if not bool(members.any()):
        return 1.0
    iou = iou_torch(boxes[members], estimate)
    labels, importance = labels_and_importance(iou, config)
    errors = truncated_sq_error(outputs[members], labels, config)
    quality = 1.0 - float((importance * errors).mean())
    return min(1.0, max(0.0, quality))
