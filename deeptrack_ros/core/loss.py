"""The structural, truncated loss of DeepTrack (Eq. 5, 6, 9, 10)."""

from __future__ import annotations

import torch

from deeptrack_ros.core.config import TrackerConfig


def sample_importance(iou: torch.Tensor, steepness: float) -> torch.Tensor:
    """Eq. 5: Theta = |2 / (1 + exp(-k (IoU - 0.5))) - 1|.

    Zero at IoU = 0.5 (ambiguous samples barely count) and largest for clear positives and
    clear negatives. k = 1 is the printed form, whose maximum is only 0.245.
    """
    return (2.0 / (1.0 + torch.exp(-steepness * (iou - 0.5))) - 1.0).abs()


def structural_labels(iou: torch.Tensor, threshold: float, full: float | None = None,
                      floor: float = 0.0) -> torch.Tensor:
    """Eq. 6: scalar label 1 (positive, target [1, 0]) when IoU > threshold, else 0.

    With `full` above the threshold a positive's label instead rises linearly from `floor`
    just above the threshold to 1 at `full` (soft labels). Eq. 6 gives a window shifted by a
    fifth of the target the same label as the target itself, so the network learns a flat
    top and its argmax wanders over it; a ramp keeps the top at the target while labelling the
    same windows positive. The floor keeps those windows well above a negative, so the
    target's score falls less when its appearance changes.
    """
    positive = iou > threshold
    if full is None or full <= threshold:
        return positive.to(iou.dtype)
    ramp = ((iou - threshold) / (full - threshold)).clamp(0.0, 1.0)
    return torch.where(positive, floor + (1.0 - floor) * ramp, torch.zeros_like(iou))


def labels_and_importance(iou: torch.Tensor, config: TrackerConfig
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Scalar labels (Eq. 6) and importance Theta (Eq. 5) of samples at `iou` to the estimate.

    Samples with iou_negative < IoU <= iou_positive are ambiguous: labelled negative but with
    importance 0, so they teach nothing. With the paper's single threshold (both 0.5) there is
    no such band. A band makes the response narrower than Eq. 6's plateau: with every window
    over IoU 0.5 positive, a large target's response is flat over a third of its width.
    """
    labels = structural_labels(iou, config.iou_positive, config.label_full_iou,
                               config.label_floor)
    importance = sample_importance(iou, config.theta_steepness)
    if config.iou_negative < config.iou_positive:
        ambiguous = (iou > config.iou_negative) & (iou <= config.iou_positive)
        importance = torch.where(ambiguous, torch.zeros_like(importance), importance)
    return labels, importance


def label_targets(labels: torch.Tensor) -> torch.Tensor:
    """Two-vector targets [1, 0] for positives and [0, 1] for negatives, shape (N, 2)."""
    return torch.stack([labels, 1.0 - labels], dim=-1)


def truncated_sq_error(outputs: torch.Tensor, labels: torch.Tensor,
                       config: TrackerConfig) -> torch.Tensor:
    """Eq. 9: ||e||^2, set to 0 when ||e||^2 <= beta / (1 + u l).

    Positives are truncated at beta / (1 + u) and negatives at beta, so positives are fitted
    more precisely (the paper's argument). Works on (N, 2) or (N, cues, 2) outputs.
    """
    targets = label_targets(labels)
    while targets.dim() < outputs.dim():
        targets = targets.unsqueeze(-2)
    squared = ((outputs - targets) ** 2).sum(dim=-1)
    threshold = config.truncation_beta / (1.0 + config.truncation_u * labels)
    while threshold.dim() < squared.dim():
        threshold = threshold.unsqueeze(-1)
    return torch.where(squared > threshold, squared, torch.zeros_like(squared))


def structural_loss(outputs: torch.Tensor, labels: torch.Tensor, importance: torch.Tensor,
                    config: TrackerConfig) -> torch.Tensor:
    """Eq. 10: L = (1/N) sum_n Theta_n ||f(x_n) - l_n||_T.

    For (N, cues, 2) outputs the result is one loss per cue, shape (cues,).
    """
    errors = truncated_sq_error(outputs, labels, config)
    weights = importance
    while weights.dim() < errors.dim():
        weights = weights.unsqueeze(-1)
    return (weights * errors).mean(dim=0)
