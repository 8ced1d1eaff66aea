"""Metrics on hand-computed boxes, and agreement with the OTB MATLAB toolkit's formulas."""

import numpy as np
import pytest

from deeptrack_ros.eval.metrics import (PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS, centre_error,
                                        iou, mean_curves, precision_curve, score_sequence,
                                        success_curve)
from deeptrack_ros.eval.sequences import parse_groundtruth


def test_iou_hand_computed():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10],
                  [0, 0, 0, 10]])
    b = np.array([[5, 5, 10, 10], [0, 0, 10, 10], [10, 0, 10, 10], [2, 2, 4, 4],
                  [0, 0, 10, 10]])
    assert iou(a, b) == pytest.approx([25 / 175, 1.0, 0.0, 16 / 100, 0.0])


def test_centre_error_hand_computed():
    assert centre_error([[0, 0, 10, 10]], [[3, 4, 10, 10]]) == pytest.approx([5.0])
    # centres (5, 5) and (5 + 1, 5 + 1.5): sizes differ, centres still compared
    assert centre_error([[0, 0, 10, 10]], [[0, 0, 12, 13]]) == pytest.approx([np.hypot(1, 1.5)])


def _otb_matlab(pred, gt):
    """calcRectInt.m and the centre error of the OTB toolkit, on 1-based integer boxes."""
    pred1, gt1 = pred + [1, 1, 0, 0], gt + [1, 1, 0, 0]
    left = np.maximum(pred1[:, 0], gt1[:, 0])
    right = np.minimum(pred1[:, 0] + pred1[:, 2] - 1, gt1[:, 0] + gt1[:, 2] - 1)
    top = np.maximum(pred1[:, 1], gt1[:, 1])
    bottom = np.minimum(pred1[:, 1] + pred1[:, 3] - 1, gt1[:, 1] + gt1[:, 3] - 1)
    inter = np.maximum(0, right - left + 1) * np.maximum(0, bottom - top + 1)
    union = pred1[:, 2] * pred1[:, 3] + gt1[:, 2] * gt1[:, 3] - inter
    cp = pred1[:, :2] + (pred1[:, 2:] - 1) / 2
    cg = gt1[:, :2] + (gt1[:, 2:] - 1) / 2
    return inter / union, np.linalg.norm(cp - cg, axis=1)


def test_matches_otb_toolkit_on_integer_boxes():
    rng = np.random.default_rng(1)
    gt = np.column_stack([rng.integers(0, 50, 200), rng.integers(0, 50, 200),
                          rng.integers(1, 40, 200), rng.integers(1, 40, 200)]).astype(float)
    pred = gt + rng.integers(-15, 16, size=gt.shape)
    pred[:, 2:] = np.maximum(pred[:, 2:], 1)
    overlap, error = _otb_matlab(pred, gt)
    assert iou(pred, gt) == pytest.approx(overlap)
    assert centre_error(pred, gt) == pytest.approx(error)


def test_one_based_groundtruth_conversion(tmp_path):
    path = tmp_path / 'gt.txt'
    path.write_text('11,21,30,40\n')
    gt = parse_groundtruth(path)
    assert gt.tolist() == [[10.0, 20.0, 30.0, 40.0]]
    tracker_box = np.array([[10.0, 20.0, 30.0, 40.0]])  # 0-based, as the core reports
    assert iou(tracker_box, gt)[0] == 1.0
    assert centre_error(tracker_box, gt)[0] == 0.0


def test_thresholds():
    assert len(PRECISION_THRESHOLDS) == 51 and PRECISION_THRESHOLDS[20] == 20
    assert len(SUCCESS_THRESHOLDS) == 21
    assert SUCCESS_THRESHOLDS[10] == 0.5 and SUCCESS_THRESHOLDS[12] == 0.6
    assert SUCCESS_THRESHOLDS[0] == 0.0 and SUCCESS_THRESHOLDS[-1] == 1.0


def test_success_curve_is_strictly_greater_and_auc_is_its_mean():
    overlaps = np.array([0.0, 0.5, 0.55, 1.0])
    curve = success_curve(overlaps)
    assert curve[0] == 0.75           # IoU > 0: a zero overlap is a failure
    assert curve[10] == 0.5           # IoU > 0.5: 0.5 itself does not count
    assert curve[11] == 0.25          # IoU > 0.55
    assert curve[20] == 0.0           # nothing is > 1
    # counts per threshold: 3 (x10), 2, 1 (x9), 0 -> 41 successes of 4 frames x 21 thresholds
    assert curve.mean() == pytest.approx(41 / 84)


def test_precision_curve_is_inclusive():
    curve = precision_curve(np.array([0.0, 20.0, 20.5, np.nan]))
    assert curve[0] == 0.25
    assert curve[20] == 0.5           # <= 20 counts; NaN never does
    assert curve[21] == 0.75


def test_score_sequence_excludes_invalid_groundtruth():
    gt = np.array([[0, 0, 10, 10], [0, 0, 0, 10], [0, 0, 10, np.nan], [0, 0, 10, 10]], float)
    pred = np.array([[0, 0, 10, 10], [90, 90, 5, 5], [90, 90, 5, 5], [5, 5, 10, 10]], float)
    score = score_sequence(pred, gt)
    assert score.scored == 2
    assert score.precision20 == 1.0                    # errors 0 and ~7.07
    assert score.success_at(0.5) == 0.5                # IoUs 1 and 25/175
    assert score.success_at(0.6) == 0.5
    assert score.success_auc == pytest.approx(success_curve([1.0, 25 / 175]).mean())
    with pytest.raises(ValueError):
        score.success_at(0.33)
    with pytest.raises(ValueError):
        score_sequence(pred[:2], gt)


def test_mean_curves_weigh_sequences_equally():
    a = score_sequence(np.array([[0, 0, 10, 10]] * 9, float), np.array([[0, 0, 10, 10]] * 9, float))
    b = score_sequence(np.array([[50, 50, 10, 10]], float), np.array([[0, 0, 10, 10]], float))
    precision, success = mean_curves([a, b])
    assert precision[20] == 0.5
    assert success.mean() == pytest.approx((a.success_auc + b.success_auc) / 2)
