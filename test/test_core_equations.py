"""Each DeepTrack equation checked on values computed by hand."""

import math

import numpy as np
import pytest
import torch

from deeptrack_ros.core.boxes import iou_xywh, validate_box
from deeptrack_ros.core.config import TrackerConfig
from deeptrack_ros.core.loss import (
    labels_and_importance, sample_importance, structural_labels, structural_loss,
    truncated_sq_error)
from deeptrack_ros.core.memory import (
    SamplePool, negative_probabilities, positive_probabilities)
from deeptrack_ros.core.network import deeptrack_score
from deeptrack_ros.core.quality import tracking_quality

CONFIG = TrackerConfig()


def test_theta_printed_form_hand_values():
    iou = torch.tensor([0.0, 0.5, 1.0, 0.75])
    theta = sample_importance(iou, 1.0)
    edge = abs(2.0 / (1.0 + math.exp(0.5)) - 1.0)  # 0.2449...
    assert theta[0].item() == pytest.approx(edge, abs=1e-6)
    assert theta[1].item() == pytest.approx(0.0, abs=1e-7)
    assert theta[2].item() == pytest.approx(edge, abs=1e-6)
    assert theta[3].item() == pytest.approx(abs(2.0 / (1.0 + math.exp(-0.25)) - 1.0), abs=1e-6)
    assert edge == pytest.approx(0.244919, abs=1e-6)


def test_theta_steepness_reaches_near_one():
    theta = sample_importance(torch.tensor([1.0]), 10.0)
    assert theta.item() == pytest.approx(2.0 / (1.0 + math.exp(-5.0)) - 1.0, abs=1e-6)


def test_labels_strictly_above_half():
    labels = structural_labels(torch.tensor([0.2, 0.5, 0.5001, 0.9]), 0.5)
    assert labels.tolist() == [0.0, 0.0, 1.0, 1.0]


def test_soft_labels_rise_linearly_from_the_threshold_to_full_overlap():
    iou = torch.tensor([0.2, 0.5, 0.6, 0.75, 0.9, 1.0])
    soft = TrackerConfig(label_full_iou=1.0)
    labels, importance = labels_and_importance(iou, soft)
    torch.testing.assert_close(labels, torch.tensor([0.0, 0.0, 0.2, 0.5, 0.8, 1.0]))
    torch.testing.assert_close(importance, sample_importance(iou, 1.0))
    # Full label from 0.8 on: the ramp is steeper and flat above it.
    labels, _ = labels_and_importance(iou, TrackerConfig(label_full_iou=0.8))
    torch.testing.assert_close(labels, torch.tensor([0.0, 0.0, 1 / 3, 5 / 6, 1.0, 1.0]))


def test_soft_label_floor_lifts_the_ramp_above_the_threshold_only():
    iou = torch.tensor([0.2, 0.5, 0.6, 0.75, 1.0])
    # Floor 0.5 over a ramp from 0.5 to 1: a positive's label is its IoU.
    labels, _ = labels_and_importance(iou, TrackerConfig(label_full_iou=1.0, label_floor=0.5))
    torch.testing.assert_close(labels, torch.tensor([0.0, 0.0, 0.6, 0.75, 1.0]))
    # Floor 1: Eq. 6's step again.
    labels, _ = labels_and_importance(iou, TrackerConfig(label_full_iou=1.0, label_floor=1.0))
    assert labels.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


def test_label_full_iou_at_or_below_the_threshold_keeps_the_step():
    iou = torch.tensor([0.6, 0.65, 0.75])
    banded = TrackerConfig(iou_positive=0.7, iou_negative=0.5, label_full_iou=0.6)
    labels, _ = labels_and_importance(iou, banded)
    assert labels.tolist() == [0.0, 0.0, 1.0]


def test_ambiguous_band_between_thresholds_has_zero_importance():
    iou = torch.tensor([0.2, 0.5, 0.6, 0.7, 0.75, 1.0])
    # The paper's single threshold: no band, Theta as printed everywhere.
    labels, importance = labels_and_importance(iou, CONFIG)
    assert labels.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    torch.testing.assert_close(importance, sample_importance(iou, 1.0))
    # Negatives at IoU <= 0.5, positives above 0.7, the two in (0.5, 0.7] count for nothing.
    banded = TrackerConfig(iou_positive=0.7, iou_negative=0.5)
    labels, importance = labels_and_importance(iou, banded)
    assert labels.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    expected = sample_importance(iou, 1.0) * torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    torch.testing.assert_close(importance, expected)


def test_truncated_norm_thresholds():
    # beta = 0.0025, u = 3: positives truncated at 0.000625, negatives at 0.0025.
    pos = torch.ones(4)
    neg = torch.zeros(4)
    # errors chosen on e = (d, 0) so ||e||^2 = d^2
    d = torch.sqrt(torch.tensor([0.0006, 0.0007, 0.0024, 0.0026]))
    pos_out = torch.stack([1.0 - d, torch.zeros(4)], dim=1)
    neg_out = torch.stack([d, torch.ones(4)], dim=1)
    pos_err = truncated_sq_error(pos_out, pos, CONFIG)
    neg_err = truncated_sq_error(neg_out, neg, CONFIG)
    assert pos_err.tolist() == pytest.approx([0.0, 0.0007, 0.0024, 0.0026], abs=1e-7)
    assert neg_err.tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0026], abs=1e-7)


def test_structural_loss_is_theta_weighted_mean():
    outputs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    labels = torch.tensor([1.0, 1.0, 0.0])
    theta = torch.tensor([0.2, 0.1, 0.5])
    # squared errors: 1 (kept), 0 (truncated), 1 (kept)
    expected = (0.2 * 1.0 + 0.0 + 0.5 * 1.0) / 3
    assert structural_loss(outputs, labels, theta, CONFIG).item() == pytest.approx(expected)


def test_score_equation_one():
    s = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [2.0, -1.0]])
    assert deeptrack_score(s).tolist() == pytest.approx(
        [math.e, 0.5, 0.0, 2.0 * math.exp(3.0)], rel=1e-6)


def test_quality_on_constructed_heat_map():
    # Three particles score above v * S*: the estimate itself, a neighbour (IoU > 0.5,
    # predicted perfectly) and a far-away second peak (IoU 0, predicted positive).
    boxes = torch.tensor([[10.0, 10.0, 10.0, 10.0], [11.0, 10.0, 10.0, 10.0],
                          [60.0, 60.0, 10.0, 10.0], [30.0, 30.0, 10.0, 10.0]])
    outputs = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.9, 0.0], [0.0, 1.0]])
    scores = deeptrack_score(outputs)
    estimate = boxes[0]
    q = tracking_quality(scores, outputs, boxes, estimate, float(scores[0]), CONFIG)
    theta_far = abs(2.0 / (1.0 + math.exp(0.5)) - 1.0)
    far_error = 0.9 ** 2 + 1.0  # label [0, 1], output [0.9, 0]
    expected = 1.0 - (0.0 + 0.0 + theta_far * far_error) / 3
    assert q == pytest.approx(expected, abs=1e-5)
    # A single sharp peak gives Q = 1.
    single = tracking_quality(scores[:2], outputs[:2], boxes[:2], estimate,
                              float(scores[0]), CONFIG)
    assert single == pytest.approx(1.0)
    # No positive peak at all: Q = 0.
    assert tracking_quality(scores, outputs, boxes, estimate, -0.1, CONFIG) == 0.0


def test_iou_hand_values():
    assert iou_xywh(np.array([0, 0, 10, 10]), np.array([5, 0, 10, 10])) == pytest.approx(1 / 3)
    assert iou_xywh(np.array([0, 0, 10, 10]), np.array([20, 20, 5, 5])) == 0.0
    assert iou_xywh(np.array([0, 0, 10, 10]), np.array([0, 0, 10, 10])) == pytest.approx(1.0)


def test_pool_evicts_oldest_first():
    pool = SamplePool(5, (3, 4, 4), torch.device('cpu'))
    for frame in range(4):
        patches = torch.full((2, 3, 4, 4), float(frame))
        pool.add(patches, torch.ones(2), torch.ones(2), frame, quality=1.0 - 0.1 * frame)
    assert pool.size == 5
    assert sorted(pool.frames_in_pool().tolist()) == [1, 2, 2, 3, 3]
    stored = sorted(float(p[0, 0, 0]) for p in pool.patches)
    assert stored == [1.0, 2.0, 2.0, 3.0, 3.0]
    assert sorted(pool.quality_in_pool().tolist()) == pytest.approx([0.7, 0.7, 0.8, 0.8, 0.9])


def test_negative_sampling_follows_temporal_decay_and_quality():
    frames = np.array([10, 10, 9])
    quality = np.array([1.0, 1.0, 1.0])
    p = negative_probabilities(frames, quality, current=10, sigma=10.0, use_quality=True)
    ratio = p[2] / p[0]
    assert ratio == pytest.approx(math.exp(-10.0), rel=1e-6)
    assert p.sum() == pytest.approx(1.0)
    # Quality halves a frame's weight (Eq. 14).
    p_q = negative_probabilities(np.array([10, 10]), np.array([1.0, 0.5]), 10, 10.0, True)
    assert p_q.tolist() == pytest.approx([2 / 3, 1 / 3])
    # A pool of old frames only still gives a distribution.
    old = negative_probabilities(np.array([1, 2]), np.ones(2), 100, 10.0, True)
    assert old.sum() == pytest.approx(1.0)


def test_positive_sampling_uniform_times_quality():
    assert positive_probabilities(np.ones(4), True).tolist() == pytest.approx([0.25] * 4)
    p = positive_probabilities(np.array([1.0, 0.0, 1.0]), True)
    assert p.tolist() == pytest.approx([0.5, 0.0, 0.5])
    assert positive_probabilities(np.array([1.0, 0.0]), False).tolist() == [0.5, 0.5]


def test_empirical_batch_distribution_matches_equations():
    rng = np.random.default_rng(0)
    p = negative_probabilities(np.array([5] * 10 + [4] * 10), np.ones(20), 5, 0.1, False)
    draws = rng.choice(20, size=20000, p=p)
    share_new = (draws < 10).mean()
    expected = 1.0 / (1.0 + math.exp(-0.1))
    assert share_new == pytest.approx(expected, abs=0.02)


def test_validate_box_clips_partial_and_rejects_bad():
    assert validate_box((-5, -5, 20, 20), (100, 100)) == (0.0, 0.0, 15.0, 15.0)
    for bad, word in [((0, 0, 0, 5), 'positive'), ((0, 0, -1, 5), 'positive'),
                      ((float('nan'), 0, 5, 5), 'finite'), ((200, 200, 5, 5), 'outside'),
                      ((0, 0, 5), '4 numbers'), ((0, 0, float('inf'), 5), 'finite')]:
        with pytest.raises(ValueError, match=word):
            validate_box(bad, (100, 100))


def test_motion_prior_hand_values():
    from deeptrack_ros.core.sampling import motion_prior_scores

    # centres at distance 0, 10 and 20 from (50, 50); sigma 10: factors 1, e^-0.5, e^-2
    boxes = torch.tensor([[45.0, 45.0, 10.0, 10.0], [55.0, 45.0, 10.0, 10.0],
                          [45.0, 25.0, 10.0, 10.0], [65.0, 45.0, 10.0, 10.0]])
    scores = torch.tensor([1.0, 1.5, 4.0, -2.0])
    out = motion_prior_scores(boxes, scores, [(50.0, 50.0)], 10.0)
    expected = torch.tensor([1.0, 1.5 * math.exp(-0.5), 4.0 * math.exp(-2.0), -2.0])
    assert torch.allclose(out, expected)
    # the near target (1.0) now beats the farther, higher-scoring distractor (4.0 -> 0.54)
    assert int(torch.argmax(out)) == 0
    # with a second centre at (50, 30) the third box is 0 away from it: its full score wins
    two = motion_prior_scores(boxes, scores, [(50.0, 50.0), (50.0, 30.0)], 10.0)
    expected[2] = 4.0
    assert torch.allclose(two, expected)
    assert int(torch.argmax(two)) == 2


def test_scaled_boxes_keep_centre_and_aspect_within_the_range():
    from deeptrack_ros.core.sampling import scaled_boxes

    boxes = scaled_boxes((10.0, 20.0, 40.0, 80.0), 500, 1.5, np.random.default_rng(0))
    assert boxes.shape == (500, 4)
    np.testing.assert_allclose(boxes[:, 0] + boxes[:, 2] / 2, 30.0, atol=1e-9)
    np.testing.assert_allclose(boxes[:, 1] + boxes[:, 3] / 2, 60.0, atol=1e-9)
    np.testing.assert_allclose(boxes[:, 2] / boxes[:, 3], 0.5, atol=1e-12)
    factors = boxes[:, 3] / 80.0
    assert factors.min() >= 1 / 1.5 and factors.max() <= 1.5
    # log-uniform: as many shrunk as grown, and both ends reached
    assert abs(np.mean(np.log(factors))) < 0.05
    assert factors.min() < 0.7 and factors.max() > 1.4


def test_position_truncation_cuts_offsets_and_keeps_the_rest_of_the_draw():
    from deeptrack_ros.core.sampling import TargetState, draw_particles

    state = TargetState(cx=500.0, cy=500.0, height=100.0, aspect=0.5)  # sigma 10 px
    plain = TrackerConfig(sigma_xy_max=10.0)
    cut = TrackerConfig(sigma_xy_max=10.0, position_truncation=2.0)
    free = draw_particles(state, 4000, plain, np.random.default_rng(3), (1000, 1000))
    bounded = draw_particles(state, 4000, cut, np.random.default_rng(3), (1000, 1000))
    offsets = lambda boxes: boxes[:, :2] + boxes[:, 2:] / 2 - 500.0  # noqa: E731
    assert np.abs(offsets(free)).max() > 30.0  # a Gaussian of 4000 draws passes 3 sigma
    assert np.abs(offsets(bounded)).max() <= 20.0 + 1e-9
    inside = np.all(np.abs(offsets(free)) < 20.0, axis=1)
    # the same draws where they were inside the limit, and the same scales everywhere
    np.testing.assert_allclose(bounded[inside], free[inside])
    np.testing.assert_allclose(bounded[:, 3], free[:, 3])


def test_pool_mapped_keeps_slots_and_metadata():
    pool = SamplePool(4, (1, 2, 2), torch.device('cpu'))
    for frame in range(3):
        pool.add(torch.full((2, 1, 2, 2), float(frame)), torch.tensor([1.0, 0.0]),
                 torch.tensor([0.2, 0.1]), frame, 0.5 + frame / 10)
    mapped = pool.mapped(lambda x: x.flatten(1) * 2, 'first')
    assert mapped.stage == 'first' and mapped.size == pool.size == 4
    assert mapped.patches.shape == (4, 4)
    assert torch.equal(mapped.patches, pool.patches.flatten(1) * 2)
    assert np.array_equal(mapped.frames, pool.frames)
    assert np.array_equal(mapped.quality, pool.quality)
    mapped.add(torch.zeros(1, 4), torch.ones(1), torch.ones(1), 3, 1.0)
    assert mapped.frames.tolist() == [2, 2, 3, 1]  # continues at the source's next slot


def test_without_a_cap_the_particle_cloud_scales_with_the_target():
    """A camera of twice the resolution (or a target at half the distance) doubles both the
    target's height and its motion in pixels; with `sigma_xy_max` 0 the search doubles too,
    while the paper's cap holds it at the same pixels."""
    from deeptrack_ros.core.sampling import TargetState, draw_particles, position_sigma

    uncapped = TrackerConfig(sigma_xy_max=0.0, sigma_xy_height_fraction=0.3)
    assert position_sigma(100.0, uncapped) == pytest.approx(30.0)
    assert position_sigma(400.0, uncapped) == pytest.approx(120.0)
    capped = TrackerConfig(sigma_xy_max=20.0, sigma_xy_height_fraction=0.3)
    assert position_sigma(30.0, capped) == pytest.approx(9.0)
    assert position_sigma(400.0, capped) == pytest.approx(20.0)

    def offsets(config, scale):
        state = TargetState(cx=500.0 * scale, cy=500.0 * scale, height=100.0 * scale,
                            aspect=0.5)
        boxes = draw_particles(state, 2000, config, np.random.default_rng(7),
                               (int(1000 * scale), int(1000 * scale)))
        return boxes[:, :2] + boxes[:, 2:] / 2 - 500.0 * scale

    np.testing.assert_allclose(offsets(uncapped, 2.0), 2.0 * offsets(uncapped, 1.0))
    assert not np.allclose(offsets(capped, 2.0), 2.0 * offsets(capped, 1.0))
