"""The correlation-filter refinement: features, translation and scale on images with known
motion, the distrust of far peaks, and the tracker with the refiner on."""

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deeptrack_ros.core import DeepTracker
from deeptrack_ros.core.boxes import iou_xywh
from deeptrack_ros.core.config import TrackerConfig
from deeptrack_ros.core.correlation import (ORIENTATION_BINS, CorrelationRefiner,
                                            PreviousFrame, crop_turned, opponent_cells,
                                            orientation_cells, turn_orientations)
from deeptrack_ros.core.cues import Region, crop_patches
from deeptrack_ros.core.sampling import draw_particles
from test_core_tracker import FAST, run, synthetic_sequence

CPU = torch.device('cpu')
CONFIG = TrackerConfig(correlation_refine=True, correlation_scale=True)


def _texture(shape, seed=0, grain=12):
    """Smooth aperiodic gray texture (uint8, HxWx3): noise interpolated from a grid `grain`
    px apart (structure at about the target's scale, which the cells can resolve), plus a
    little pixel noise."""
    rng = np.random.default_rng(seed)
    noise = torch.as_tensor(rng.random((1, 1, shape[0] // grain, shape[1] // grain)),
                            dtype=torch.float32)
    coarse = F.interpolate(noise, size=shape, mode='bicubic', align_corners=False)[0, 0]
    fine = torch.as_tensor(rng.random(shape), dtype=torch.float32)
    image = (0.8 * coarse + 0.2 * fine).clamp(0, 1).numpy() * 255
    return np.repeat(image[..., None], 3, axis=2).astype(np.uint8)


def _warp(image, centre=(0.0, 0.0), factor=1.0, shift=(0.0, 0.0)):
    """The image magnified by `factor` about `centre` (x, y), then moved by `shift` (dx, dy)
    px: bilinear, borders replicated, same size."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    grid_x = (centre[0] + (xs + 0.5 - shift[0] - centre[0]) / factor) / width * 2 - 1
    grid_y = (centre[1] + (ys + 0.5 - shift[1] - centre[1]) / factor) / height * 2 - 1
    grid = torch.as_tensor(np.stack([grid_x, grid_y], axis=-1))[None]
    source = torch.as_tensor(image, dtype=torch.float32).permute(2, 0, 1)[None]
    out = F.grid_sample(source, grid, mode='bilinear', padding_mode='border',
                        align_corners=False)
    return out[0].permute(1, 2, 0).round().clamp(0, 255).numpy().astype(np.uint8)


def test_orientation_cells_vote_by_gradient_direction():
    # A vertical edge: horizontal gradient, orientation 0 -> bin 0; a horizontal edge: pi/2
    # -> the bin centred on 4.5 bins, shared by bins 4 and 5.
    vertical = torch.zeros(1, 16, 16)
    vertical[:, :, 8:] = 1.0
    cells = orientation_cells(vertical, 4)
    assert cells.shape == (ORIENTATION_BINS + 1, 4, 4)
    votes = cells[:ORIENTATION_BINS].sum(dim=(1, 2))
    assert int(torch.argmax(votes)) == 0
    assert float(votes[1:8].sum()) == pytest.approx(0.0, abs=1e-6)
    horizontal = vertical.transpose(1, 2)
    votes = orientation_cells(horizontal, 4)[:ORIENTATION_BINS].sum(dim=(1, 2))
    assert float(votes[4]) == pytest.approx(float(votes[5]), rel=1e-5)
    assert float(votes[4] + votes[5]) == pytest.approx(float(votes.sum()), rel=1e-5)
    # The last channel is the mean intensity of each cell.
    torch.testing.assert_close(cells[ORIENTATION_BINS, 0], torch.tensor([0.0, 0.0, 1.0, 1.0]))


@pytest.mark.parametrize('shift', [(6.0, -4.0), (-9.5, 3.25)])
def test_translation_filter_finds_a_known_shift(shift):
    image = _texture((160, 200))
    box = (80.0, 60.0, 40.0, 30.0)
    refiner = CorrelationRefiner(CONFIG, CPU)
    refiner.initialize(image, box)
    # The scene moves by `shift`: the target is now at box + shift; refine from the old box.
    moved = _warp(image, shift=shift)
    outcome = refiner.refine(moved, box, (box[2], box[3]))
    assert outcome.shift_accepted
    assert outcome.shift == pytest.approx(shift, abs=1.0)
    assert outcome.box[0] == pytest.approx(box[0] + shift[0], abs=1.0)
    assert outcome.box[1] == pytest.approx(box[1] + shift[1], abs=1.0)
    assert outcome.scale_factor == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize('scale_rate', [1.0, 0.5])
@pytest.mark.parametrize('rate', [1.015, 1 / 1.015])
def test_scale_filter_follows_a_steady_zoom(rate, scale_rate):
    # A camera zooming by 1.5 % a frame for 16 frames (27 % in all), the filters learning
    # every frame as in the tracker; the box's size must follow, also when only part of
    # each frame's measured change is applied.
    image = _texture((220, 260), seed=1)
    box = (110.0, 90.0, 40.0, 40.0)
    centre = (130.0, 110.0)
    refiner = CorrelationRefiner(CONFIG.replace(correlation_scale_rate=scale_rate), CPU)
    refiner.initialize(image, box)
    for frame in range(1, 17):
        zoomed = _warp(image, centre, rate ** frame)
        box = refiner.refine(zoomed, box, (box[2], box[3])).box
        refiner.learn(zoomed, box)
    expected = 40.0 * rate ** 16
    if scale_rate == 1.0:
        # Within 6 % of the truth, against the 27 % the zoom changed it.
        assert box[2] == pytest.approx(expected, rel=0.06)
    else:
        # Damped, the size lags: the filter measures less than each frame's change against
        # its slowly learned model, and half of that is applied. Most of the way all the
        # same (about two thirds here), and never past the truth.
        travelled = math.log(box[2] / 40.0) / math.log(expected / 40.0)
        assert 0.55 < travelled <= 1.0
    assert box[3] == pytest.approx(box[2])
    assert math.hypot(box[0] + box[2] / 2 - centre[0], box[1] + box[3] / 2 - centre[1]) < 2.0
    # Without the scale filter the size stays where it started.
    fixed = CorrelationRefiner(CONFIG.replace(correlation_scale=False), CPU)
    fixed.initialize(image, (110.0, 90.0, 40.0, 40.0))
    assert fixed.refine(_warp(image, centre, rate), box, (40.0, 40.0)).scale_factor == 1.0


_STRICT_BOX = (80.0, 60.0, 40.0, 30.0)


def _strict_refiner(**changes):
    """A texture and a refiner that may move its 40 x 30 box by a tenth of its size (4 px)."""
    image = _texture((160, 200), seed=2)
    strict = CONFIG.replace(correlation_max_shift=0.1, correlation_scale=False, **changes)
    refiner = CorrelationRefiner(strict, CPU)
    refiner.initialize(image, _STRICT_BOX)
    return image, refiner


def test_a_peak_beyond_max_shift_is_not_followed():
    image, refiner = _strict_refiner()
    box = _STRICT_BOX
    outcome = refiner.refine(_warp(image, shift=(8.0, 0.0)), box, (box[2], box[3]))
    # 8 px is 0.2 of the 40 px width: seen, but farther than the 0.1 allowed.
    assert outcome.shift[0] == pytest.approx(8.0, abs=1.0)
    assert not outcome.shift_accepted
    assert outcome.box == box


def test_a_peak_in_reach_moves_the_box_as_far_as_it_may():
    image, whole = _strict_refiner()
    _, reach = _strict_refiner(correlation_peak_in_reach=True)
    box = _STRICT_BOX
    moved = _warp(image, shift=(8.0, 0.0))
    far = whole.refine(moved, box, (box[2], box[3]))
    near = reach.refine(moved, box, (box[2], box[3]))
    # The target is 8 px away and the box may move 4 px: it moves towards it, at most 4 px,
    # and the peak reported is the one found there, below the whole window's (at 8 px).
    assert near.shift_accepted
    assert 2.0 <= near.shift[0] <= 4.0 + 1e-6
    assert abs(near.shift[1]) <= 3.0 + 1e-6
    assert near.box[0] == pytest.approx(box[0] + near.shift[0])
    assert near.peak < far.peak
    # A shift within reach is found alike with or without the restriction.
    close = _warp(image, shift=(2.0, 0.0))
    assert reach.refine(close, box, (box[2], box[3])).shift == pytest.approx(
        whole.refine(close, box, (box[2], box[3])).shift)


@pytest.mark.parametrize('shift', [(9.0, 0.0), (0.0, 7.0), (9.0, -6.0)])
def test_passes_centred_where_the_box_moved_undo_the_windows_pull_to_its_centre(shift):
    image = _texture((160, 200))
    box = (80.0, 60.0, 40.0, 30.0)
    moved = _warp(image, shift=shift)
    outcomes = {}
    for passes in (1, 3):
        refiner = CorrelationRefiner(CONFIG.replace(correlation_peak_in_reach=True,
                                                    correlation_refine_passes=passes), CPU)
        refiner.initialize(image, box)
        outcomes[passes] = refiner.refine(moved, box, (box[2], box[3]))
    errors = {passes: math.hypot(outcome.shift[0] - shift[0], outcome.shift[1] - shift[1])
              for passes, outcome in outcomes.items()}
    # One window centred on the old box tapers the moved target: its peak stops short of it
    # (by about 5 % of a 9 px move) and is lower than where the window is centred on it.
    assert errors[3] < 0.7 * errors[1]
    assert outcomes[3].peak > outcomes[1].peak
    assert outcomes[3].shift_accepted


def test_later_passes_stay_within_reach_of_the_first_box():
    image, whole = _strict_refiner()
    _, refiner = _strict_refiner(correlation_peak_in_reach=True, correlation_refine_passes=5)
    box = _STRICT_BOX
    moved = _warp(image, shift=(8.0, 0.0))
    # The target is 8 px away; every pass would move the box up to 4 px more, but the total
    # may not exceed 4 px (a tenth of the 40 px width).
    outcome = refiner.refine(moved, box, (box[2], box[3]))
    assert outcome.shift_accepted
    assert 2.0 <= outcome.shift[0] <= 4.0 + 1e-6
    assert outcome.box[0] == pytest.approx(box[0] + outcome.shift[0])
    # And a later pass seeks its peak within that reach too: the peak reported is the one
    # where the box went, far below the target's 8 px away (the whole window's maximum).
    assert outcome.peak < 0.5 * whole.refine(moved, box, (box[2], box[3])).peak


def test_refined_centre_stays_inside_the_image():
    image = _texture((120, 160), seed=3)
    box = (0.0, 40.0, 30.0, 30.0)
    refiner = CorrelationRefiner(CONFIG.replace(correlation_max_shift=1.0), CPU)
    refiner.initialize(image, box)
    # The scene moves left by 20 px: the target's centre (15 px) would leave the image.
    outcome = refiner.refine(_warp(image, shift=(-20.0, 0.0)), box, (box[2], box[3]))
    cx = outcome.box[0] + outcome.box[2] / 2
    assert 0.0 <= cx <= 160.0


def test_tracker_with_refinement_follows_and_is_deterministic():
    images, boxes = synthetic_sequence()
    config = FAST.replace(correlation_refine=True, correlation_scale=True)
    results = run(config, images, boxes[0])
    tracked = np.array([r.box for r in results])
    iou = iou_xywh(tracked, boxes)
    assert iou.mean() > 0.6, f'mean IoU {iou.mean():.3f}'
    again = run(config, images[:8], boxes[0])
    assert [r.box for r in again] == [r.box for r in results[:8]]
    # The box grows with the target (25 % over the sequence) through the scale filter.
    assert tracked[-1, 3] > tracked[0, 3] * 1.1


def _first_frame_scored(**changes):
    """A tracker with the filters on, initialised on the synthetic sequence's first frame, and
    that frame scored around the target (for calling `_refine` as `track` does)."""
    images, boxes = synthetic_sequence(frames=2)
    config = FAST.replace(correlation_refine=True, correlation_scale=True,
                          first_frame_iterations=20, **changes)
    tracker = DeepTracker(config, device='cpu', seed=0)
    tracker.initialize(images[0], boxes[0])
    state = tracker.state
    particles = draw_particles(state, 300, config, np.random.default_rng(0),
                               images[0].shape[:2], 3.0)
    scores = tracker.scorer.score(images[0], particles, state.height, state.aspect)
    return tracker, images[0], scores, tuple(float(v) for v in boxes[0])


def test_a_far_jump_of_the_network_is_checked_where_the_target_was():
    tracker, image, scores, (x, y, w, h) = _first_frame_scored()
    # The network's estimate 3 px off: refined towards the target, its score kept.
    near, near_score, *_ = tracker._refine(image, scores, (x + 3, y, w, h), -7.0)
    assert near_score == -7.0
    assert abs(near[0] - x) < 1.5 and abs(near[1] - y) < 1.5
    # 25 px off (beyond max_shift of a 30 px box) on background: the filters peak higher
    # where the target was, so that place wins and the network scores it afresh.
    far, far_score, *_ = tracker._refine(image, scores, (x + 25, y, w, h), -7.0)
    assert abs(far[0] - x) < 1.5 and abs(far[1] - y) < 1.5
    assert far_score != -7.0 and far_score > 0


def test_a_far_jump_can_be_checked_at_every_place_the_target_may_have_been_carried_to():
    tracker, image, scores, (x, y, w, h) = _first_frame_scored()
    # The network jumps 25 px onto background, and the motion hypothesis nearest the jump
    # is wrong (40 px the other way, background too); the target is where it was.
    where_it_was = tracker.state
    wrong = dataclasses.replace(where_it_was, cx=where_it_was.cx - 40.0)
    jump = (x + 25, y, w, h)
    nearest_only = tracker._refine(image, scores, jump, -7.0, wrong)
    assert abs(nearest_only.box[0] - x) > 10.0
    every = tracker._refine(image, scores, jump, -7.0, wrong, [where_it_was])
    assert abs(every.box[0] - x) < 1.5 and abs(every.box[1] - y) < 1.5
    assert every.peak > nearest_only.peak


def test_a_far_jump_while_lost_needs_a_peak_like_the_learned_ones():
    # The target moved 25 px (beyond max_shift of its 30 px width); the filters learned it
    # once (tracking the unmoved frame), then the target was lost.
    # One pass of the translation filter: the ratios below are calibrated on it. With three
    # passes the learned frame's box settles where the filters were solved, whose peak
    # (1.05) then sits above a warped reappearance's (0.81), and a ratio of 0.9 doubts both.
    def jump(ratio, frames_lost, noise, frames_followed=0, doubt_followed=False):
        tracker, image, scores, (x, y, w, h) = _first_frame_scored(
            correlation_jump_peak=ratio, correlation_refine_passes=1,
            correlation_jump_doubt_followed=doubt_followed)
        assert tracker.track(image).learned
        moved = _warp(image, shift=(25.0, 0.0))
        noisy = moved + np.random.default_rng(0).normal(0.0, noise, moved.shape)
        tracker._frames_lost = frames_lost
        tracker._frames_followed = frames_followed
        box, _, _, doubted, _ = tracker._refine(np.clip(noisy, 0, 255).astype(np.uint8),
                                             scores, (x + 25, y, w, h), 1.0)
        return box[0] - x, doubted, tracker.config.correlation_max_shift * w

    # A clean reappearance peaks like the learned frames: believed even at ratio 0.9.
    moved_by, doubted, reach = jump(0.9, 2, 0.0)
    assert abs(moved_by - 25) < 3 and not doubted
    # Under heavy noise the filters peak at about 70 % of their learned peak there (still
    # above where the target was): believed at ratio 0.5, doubted at 0.9, where the box
    # stays and the frame stays lost.
    moved_by, doubted, reach = jump(0.5, 2, 40.0)
    assert abs(moved_by - 25) < 3 and not doubted
    # (Where it was, the filters' peak in reach moves the box towards the target, at most
    # as far as a box may move: correlation_peak_in_reach.)
    moved_by, doubted, reach = jump(0.9, 2, 40.0)
    assert abs(moved_by) <= reach + 1e-6 and doubted
    # A tracked (not lost) target's far jump is never doubted.
    moved_by, doubted, reach = jump(0.9, 0, 40.0)
    assert abs(moved_by - 25) < 3 and not doubted
    # Right after frames only the filters followed (the network unsure): believed as after
    # tracked frames, unless correlation_jump_doubt_followed counts them as lost.
    moved_by, doubted, reach = jump(0.9, 0, 40.0, frames_followed=3)
    assert abs(moved_by - 25) < 3 and not doubted
    moved_by, doubted, reach = jump(0.9, 0, 40.0, frames_followed=3, doubt_followed=True)
    assert abs(moved_by) <= reach + 1e-6 and doubted
    # The clean reappearance is believed either way.
    moved_by, doubted, reach = jump(0.9, 0, 0.0, frames_followed=3, doubt_followed=True)
    assert abs(moved_by - 25) < 3 and not doubted


def test_filters_that_recognise_the_target_keep_following_it_when_the_network_is_unsure():
    # The network learns frame 1, then calls every frame lost (its confidence below a
    # loss threshold it cannot reach, as on a small target right after training: its fusion
    # layer is halved, so S = s1 exp(s1 - s2) stays below e and the confidence below 1). The
    # target moves about 8 px per frame, 62 px from frame 1 to the last: each frame about
    # as far as the filters may move a box (a quarter of its 31 to 37 px width).
    images, boxes = synthetic_sequence(frames=10)

    def run_unsure(follow):
        # The follow rule alone: teaching would let the filters vouch for these frames, and
        # camera motion would carry a lost target's search (this target's own motion
        # dominates the frame's phase correlation).
        config = FAST.replace(correlation_refine=True, correlation_scale=True,
                              correlation_follow_peak=follow, correlation_teach_peak=0.0,
                              camera_motion_side=0)
        tracker = DeepTracker(config, device='cpu', seed=0)
        tracker.initialize(images[0], boxes[0])
        assert tracker.track(images[1]).learned
        with torch.no_grad():
            tracker.net.fusion.weight.mul_(0.5)
            tracker.net.fusion.bias.mul_(0.5)
        tracker.config = config.replace(lost_score=1.0)
        references = list(tracker._tracked_confidences)
        pools = tracker.pool_sizes()
        results = [tracker.track(image) for image in images[2:]]
        assert all(not r.learned for r in results)
        assert tracker.pool_sizes() == pools   # nothing learned from these frames
        assert list(tracker._tracked_confidences) == references
        return tracker, results

    # Followed: the filters peak on the target at about their learned peak, so the box and
    # the search move with it, and no frame is reported lost.
    tracker, results = run_unsure(0.5)
    assert not any(r.lost for r in results)
    assert tracker._frames_lost == 0
    assert tracker._frames_followed == len(results)   # counted for the doubt of far jumps
    truth = boxes[-1]
    assert abs(tracker.state.cx - (truth[0] + truth[2] / 2)) < 3.0
    assert abs(tracker.state.cy - (truth[1] + truth[3] / 2)) < 3.0
    assert iou_xywh(results[-1].box, truth) > 0.6
    # Never followed (ratio 0): every frame is lost and the search stays where frame 1 was.
    tracker, results = run_unsure(0.0)
    assert all(r.lost for r in results)
    assert tracker._frames_lost == len(results)
    assert tracker._frames_followed == 0
    assert abs(tracker.state.cx - (boxes[1][0] + boxes[1][2] / 2)) < 3.0


def test_opponent_colour_cells_see_hue_not_brightness():
    image = np.zeros((16, 16, 3), dtype=np.float32)
    image[:, :8] = (0.8, 0.2, 0.2)   # red
    image[:, 8:] = (0.2, 0.2, 0.8)   # blue
    cells = opponent_cells(torch.as_tensor(image).permute(2, 0, 1), 4, 1.0)
    assert cells.shape == (2, 4, 4)
    assert (cells[0, :, :2] > 0.3).all() and torch.allclose(cells[0, :, 2:], torch.zeros(4, 2))
    assert (cells[1, :, :2] > 0).all() and (cells[1, :, 2:] < -0.3).all()
    gray = torch.full((3, 16, 16), 0.7)
    assert torch.count_nonzero(opponent_cells(gray, 4, 1.0)) == 0
    # The refiner adds them to colour input only.
    colour = (np.random.default_rng(0).random((120, 140, 3)) * 255).astype(np.uint8)
    box = (50.0, 40.0, 30.0, 30.0)
    config = CONFIG.replace(correlation_color=1.0)
    channels = {}
    for name, flag in (('colour', False), ('gray', True)):
        refiner = CorrelationRefiner(config, CPU, gray=flag)
        refiner.initialize(colour, box)
        channels[name] = refiner._translation.numerator.shape[0]
    assert channels == {'colour': ORIENTATION_BINS + 3, 'gray': ORIENTATION_BINS + 1}


def test_low_peaks_leave_the_box_and_scale_changes_are_bounded():
    image = _texture((220, 260), seed=1)
    box = (110.0, 90.0, 40.0, 40.0)
    # Another scene altogether: the filters' peak is low, and below min_peak nothing moves.
    elsewhere = _texture((220, 260), seed=9)
    strict = CorrelationRefiner(CONFIG.replace(correlation_min_peak=0.5), CPU)
    strict.initialize(image, box)
    outcome = strict.refine(elsewhere, box, (40.0, 40.0))
    assert outcome.peak < 0.5
    assert not outcome.shift_accepted and outcome.scale_factor == 1.0
    assert outcome.box == box
    # A zoom of 4 % in one frame (the filter, trained on one frame, sees part of it), with
    # at most 0.1 % allowed per frame.
    bounded = CorrelationRefiner(CONFIG.replace(correlation_max_scale_change=1.001), CPU)
    bounded.initialize(image, box)
    zoomed = _warp(image, (130.0, 110.0), 1.04)
    free = CorrelationRefiner(CONFIG, CPU)
    free.initialize(image, box)
    assert free.refine(zoomed, box, (40.0, 40.0)).scale_factor > 1.002
    assert 1.0 < bounded.refine(zoomed, box, (40.0, 40.0)).scale_factor <= 1.001 + 1e-9


def test_scale_rate_applies_a_fraction_of_the_measured_size_change():
    # One zoom of 6 %: the damped filter changes the size by the same measurement to the
    # power of the rate (a fraction in log scale), the undamped one by all of it.
    image = _texture((220, 260), seed=1)
    box = (110.0, 90.0, 40.0, 40.0)
    zoomed = _warp(image, (130.0, 110.0), 1.06)
    factors = {}
    for rate in (1.0, 0.5, 0.0):
        refiner = CorrelationRefiner(CONFIG.replace(correlation_scale_rate=rate), CPU)
        refiner.initialize(image, box)
        factors[rate] = refiner.refine(zoomed, box, (40.0, 40.0)).scale_factor
    assert factors[1.0] > 1.003  # a filter trained on one frame sees part of the zoom
    assert factors[0.5] == pytest.approx(math.sqrt(factors[1.0]), rel=1e-6)
    assert factors[0.0] == 1.0


def test_verify_refuses_a_move_the_network_scores_far_below_its_own_estimate():
    tracker, image, scores, (x, y, w, h) = _first_frame_scored(correlation_verify=0.5)
    estimate = (x + 3, y, w, h)
    own = tracker._score_box(scores, (x, y, w, h))
    # Where the network scored its own estimate about as high as the filters' box: moved.
    moved, *_ = tracker._refine(image, scores, estimate, own)
    assert abs(moved[0] - x) < 1.5
    # Had the network scored its estimate far above the filters' box, it would stay.
    kept, kept_score, *_ = tracker._refine(image, scores, estimate, 4.0 * own)
    assert kept == estimate and kept_score == 4.0 * own


def test_learning_after_a_far_refine_of_the_same_image_reads_the_right_region():
    image = _texture((220, 300), seed=4)
    box = (60.0, 90.0, 40.0, 40.0)
    frame = _warp(image, shift=(2.0, 1.0))
    first, second = CorrelationRefiner(CONFIG, CPU), CorrelationRefiner(CONFIG, CPU)
    first.initialize(image, box)
    second.initialize(image, box)
    # The tracker's jump check refines far away (here 150 px) before learning at the box.
    first.refine(frame, (210.0, 90.0, 40.0, 40.0), (40.0, 40.0))
    first.learn(frame, box)
    second.learn(frame, box)
    torch.testing.assert_close(first._translation.numerator, second._translation.numerator)
    torch.testing.assert_close(first._scale.numerator, second._scale.numerator)


def _after_an_occluder_pushed_the_box_off(first_share):
    """The box's left edge after the filters learned 60 frames of their 40 x 30 target (left
    edge at x = 80) with an occluder over its right part and the box pushed 6 px left, then
    followed the unoccluded target for 50 frames, refining and learning each as the tracker
    does, and the peak on the last one."""
    image = _texture((160, 200), seed=3)
    box = (80.0, 60.0, 40.0, 30.0)
    config = CONFIG.replace(correlation_scale=False, correlation_first_share=first_share)
    refiner = CorrelationRefiner(config, CPU)
    refiner.initialize(image, box)
    occluded = image.copy()
    occluded[50:100, 105:140] = 128
    current = (74.0, 60.0, 40.0, 30.0)
    # 60 frames of it at the filters' learning rate, blended in one step.
    refiner.learn(occluded, current, rate=1.0 - (1.0 - config.correlation_learning_rate) ** 60)
    for _ in range(50):
        refiner.start_frame()
        outcome = refiner.refine(image, current, (box[2], box[3]))
        current = outcome.box
        refiner.learn(image, current)
    return current[0], outcome.peak


def test_a_kept_share_of_the_first_frame_pulls_a_drifted_box_back():
    # A filter that learns every frame keeps the framing it learned while the occluder
    # pushed the box off, and goes on learning it; one that keeps a quarter of the first
    # frame's solution for good finds the target where it was framed first.
    drifted, _ = _after_an_occluder_pushed_the_box_off(0.0)
    pulled, peak = _after_an_occluder_pushed_the_box_off(0.25)
    assert drifted == pytest.approx(74.0, abs=1.5)
    assert pulled == pytest.approx(80.0, abs=1.5)
    assert peak > 0.3


def test_the_kept_share_places_the_box_but_the_rules_read_the_learned_filters_peak():
    # The target changed since frame 1 (another texture in the box), and the filters learned
    # it: frame 1's share matches nothing there. The peak the tracker's rules compare with the
    # usual one stays the learned filter's, not one lowered by a share that matches nothing.
    first, changed = _texture((160, 200), seed=5), _texture((160, 200), seed=6)
    box = (80.0, 60.0, 40.0, 30.0)
    outcomes = []
    for share in (0.0, 0.25):
        config = CONFIG.replace(correlation_scale=False, correlation_first_share=share)
        refiner = CorrelationRefiner(config, CPU)
        refiner.initialize(first, box)
        refiner.learn(changed, box, rate=1.0 - (1.0 - config.correlation_learning_rate) ** 60)
        refiner.start_frame()
        outcomes.append(refiner.refine(changed, box, (box[2], box[3])))
    alone, shared = outcomes
    assert shared.box == pytest.approx(alone.box, abs=0.5)
    assert shared.peak == pytest.approx(alone.peak, abs=1e-4)
    assert alone.peak > 0.3


def _target_over_still_scene(frame, step):
    """Frame `frame` of a low-contrast target moving `step` px a frame to the right in front
    of a still textured scene with a bright lamp, and its box (40 x 30). The target fills the
    top two thirds of its box; on the first frame the box's bottom third shows the lamp, as
    OTB MotorRolling's first box shows a stage lamp below the bike."""
    scene = _texture((200, 260), seed=5)
    scene[100:112, 104:116] = 255
    scene[104:108, 96:124] = 255
    target = (96 + _texture((20, 40), seed=6, grain=6) * 0.25).astype(np.uint8)
    x0, y0 = 90 + step * frame, 80
    image = scene.copy()
    image[y0:y0 + 20, x0:x0 + 40] = target
    return image, (float(x0), float(y0), 40.0, 30.0)


def _centre(box):
    return box[0] + box[2] / 2.0, box[1] + box[3] / 2.0


def _refined_after_two_frames(still_weight, step, scene=_target_over_still_scene):
    """The translation filter's refinement on frame 3 from the true box, after learning
    frames 1 and 2 at their true boxes as the tracker does (frame 2 with frame 1 as the
    frame before)."""
    refiner = CorrelationRefiner(CONFIG.replace(correlation_still_weight=still_weight,
                                                correlation_peak_in_reach=True), CPU)
    first, first_box = scene(0, step)
    refiner.initialize(first, first_box)
    second, second_box = scene(1, step)
    refiner.start_frame()
    refiner.learn(second, second_box,
                  previous=PreviousFrame(first, _centre(first_box), first=True))
    third, third_box = scene(2, step)
    refiner.start_frame()
    return refiner, refiner.refine(third, third_box, (40.0, 30.0))


def test_cells_that_stay_with_the_scene_are_told_from_cells_that_move_with_the_target():
    refiner, _ = _refined_after_two_frames(0.0, 4)
    (first, first_box), (second, second_box) = _target_over_still_scene(0, 4), \
        _target_over_still_scene(1, 4)
    x, y = _centre(second_box)
    maps, region = refiner._region_maps(second, x, y, 40.0, 30.0)
    features = refiner._window_features(maps, region, x, y, 40.0, 30.0)
    weights = refiner._still_weights(features, first, _centre(first_box), (x, y), 40.0, 30.0)
    rows, cols = refiner.cells
    # Cell centres in image px: the window is the box enlarged 2.5 times about its centre.
    ys = y + ((torch.arange(rows) + 0.5) / rows - 0.5) * 75.0
    xs = x + ((torch.arange(cols) + 0.5) / cols - 0.5) * 100.0
    on_target = ((ys[:, None] > y - 15 + 3) & (ys[:, None] < y + 5 - 3)
                 & (xs[None] > x - 20 + 3) & (xs[None] < x + 20 - 3))
    outside = ~((ys[:, None] > y - 15 - 3) & (ys[:, None] < y + 15 + 3)
                & (xs[None] > x - 20 - 3) & (xs[None] < x + 20 + 3))
    assert float((weights[on_target] == 1.0).float().mean()) > 0.95
    assert float((weights[outside] == 0.0).float().mean()) > 0.8
    # A target that moves with the scene (a camera riding along) leaves nothing to tell.
    assert refiner._still_weights(features, first, (x - 6.0, y), (x - 6.0, y), 40.0,
                                  30.0) is None


@pytest.mark.parametrize('step', [3, 4, 5])
def test_still_cells_do_not_pull_the_box_back_to_where_the_target_was(step):
    # Learned with every cell alike, the filters match the lamp and the scene where the
    # target was and move the box back towards there; with still cells left out, they keep
    # it on the target and recognise it better.
    _, alike = _refined_after_two_frames(1.0, step)
    _, moving = _refined_after_two_frames(0.0, step)
    assert alike.shift[0] < -step
    assert abs(moving.shift[0]) < 1.0 and abs(moving.shift[1]) < 1.0
    assert moving.peak > 1.1 * alike.peak


def test_a_target_moving_with_the_scene_is_learned_as_without_still_cells():
    def riding(frame, step):
        image, box = _target_over_still_scene(0, 0)
        return _warp(image, shift=(step * frame, 0.0)), (box[0] + step * frame, *box[1:])
    with_still = _refined_after_two_frames(0.0, 4, riding)[1]
    alike = _refined_after_two_frames(1.0, 4, riding)[1]
    assert with_still == alike


def test_colour_tells_apart_targets_that_differ_only_in_hue():
    # The same texture twice on a flat gray field, tinted red on the left and blue on the
    # right with the same luminance: orientation and intensity cells cannot tell them apart.
    texture = _texture((40, 40), seed=5)[..., 0].astype(np.float64) / 255.0 * 0.5 + 0.25
    image = np.full((120, 240, 3), 0.5)
    red = np.stack([texture + 0.2, texture - 0.2 * 0.299 / 0.587, texture], axis=-1)
    blue = np.stack([texture, texture - 0.2 * 0.114 / 0.587, texture + 0.2], axis=-1)
    image[40:80, 40:80] = red
    image[40:80, 160:200] = blue
    image = np.round(image * 255).astype(np.uint8)
    left, right = (40.0, 40.0, 40.0, 40.0), (160.0, 40.0, 40.0, 40.0)
    peaks = {}
    for weight in (0.0, 1.0):
        refiner = CorrelationRefiner(CONFIG.replace(correlation_color=weight), CPU)
        refiner.initialize(image, left)
        peaks[weight] = [refiner.refine(image, box, (40.0, 40.0)).peak for box in (left, right)]
    # Without colour the filters peak alike on both; with it, lower on the wrong hue (the
    # tracker's check where the target was compares exactly such peaks).
    assert peaks[0.0][1] == pytest.approx(peaks[0.0][0], rel=1e-3)
    assert peaks[1.0][1] < 0.95 * peaks[1.0][0]


def _learned_after_a_change(config, change):
    """Track the 12-frame synthetic sequence: three learned frames, then `change(tracker)`,
    then the rest. Returns (the results after the change, the positives they added), having
    checked that the box is not lost and still on the target at the end."""
    images, boxes = synthetic_sequence(frames=12)
    tracker = DeepTracker(config, device='cpu', seed=0)
    tracker.initialize(images[0], boxes[0])
    assert all(tracker.track(image).learned for image in images[1:4])
    with torch.no_grad():
        change(tracker)
    before = tracker.pool_sizes()['positive'][0]
    results = [tracker.track(image) for image in images[4:]]
    assert not any(r.lost for r in results)
    assert iou_xywh(results[-1].box, boxes[-1]) > 0.6
    return results, tracker.pool_sizes()['positive'][0] - before


def test_filters_that_recognise_the_target_teach_a_network_that_is_unsure_of_it():
    # After three learned frames the network's fusion layer is cut to 0.3: its confidence
    # falls to about a fifth of the recent median, below update_min_reliability (and below
    # lost_score, so only the filters keep the box). Without teaching nothing is learned
    # from then on; with correlation_teach_peak 0.7 the filters, which recognise the target
    # as well as on the learned frames and agree with the network's estimate, vouch for every
    # frame, and both models learn it.
    def weaken_network(tracker):
        tracker.net.fusion.weight.mul_(0.3)
        tracker.net.fusion.bias.mul_(0.3)

    def run_unsure(teach):
        config = FAST.replace(camera_motion_side=0, correlation_teach_peak=teach,
                              correlation_teach_shift=0.1)
        results, added = _learned_after_a_change(config, weaken_network)
        assert all(r.reliability < config.update_min_reliability for r in results)
        return results, added

    untaught, added = run_unsure(0.0)
    assert not any(r.learned for r in untaught) and added == 0
    taught, added = run_unsure(0.7)
    assert all(r.learned for r in taught) and added == 2 * len(taught)  # each with its flip


def test_filters_that_barely_recognise_the_target_keep_a_sure_network_from_learning():
    # After three learned frames the translation filter is cut to 0.3: its peaks fall to
    # about a third of those on the learned frames, as when an occluder covers the target,
    # while the network stays as sure as before. With correlation_learn_peak 0.5 neither
    # model learns those frames; with 0 (no check) they are learned as before. The box still
    # follows the target either way: refusing to learn is not losing. With a longer memory
    # than the learned frames there is no usual peak yet, and the frames are learned, unless
    # correlation_learn_after asks for the check after as many learned frames as there are.
    def weaken_filters(tracker):
        tracker.refiner._translation.numerator.mul_(0.3)

    def run_covered(ratio, memory=3, after=0):
        # The refusal waits for a whole reliability_memory of learned peaks (three here),
        # or for `after` of them where that is given.
        # Reliability against a three-frame reference does not gate learning here: it is
        # not what is tested, and whether it dips below 0.5 on a frame depends on float
        # rounding (the thread count).
        config = FAST.replace(camera_motion_side=0, correlation_learn_peak=ratio,
                              reliability_memory=memory, update_min_reliability=0.0,
                              correlation_learn_after=after)
        return _learned_after_a_change(config, weaken_filters)

    refused, added = run_covered(0.5)
    assert not any(r.learned for r in refused) and added == 0
    learned, added = run_covered(0.0)
    assert all(r.learned for r in learned) and added == 2 * len(learned)
    early, added = run_covered(0.5, memory=30)
    assert all(r.learned for r in early) and added == 2 * len(early)
    checked_early, added = run_covered(0.5, memory=30, after=3)
    assert not any(r.learned for r in checked_early) and added == 0


def test_teaching_needs_both_models_to_agree_on_the_place():
    from deeptrack_ros.core.tracker import _agree

    box = (100.0, 50.0, 40.0, 80.0)
    assert _agree(box, (103.0, 57.0, 40.0, 80.0), 0.1)        # 3 px, 7 px: within 4 and 8
    assert not _agree(box, (105.0, 50.0, 40.0, 80.0), 0.1)    # 5 px across a 40 px width
    assert not _agree(box, (100.0, 59.0, 40.0, 80.0), 0.1)    # 9 px along an 80 px height
    assert _agree(box, (160.0, 0.0, 40.0, 80.0), 0.0)         # 0: anywhere


def _turned(image, centre, degrees):
    """The image turned clockwise on screen (image y pointing down) by `degrees` about
    `centre` (x, y): bilinear, borders replicated, same size."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = math.radians(degrees)
    # Each output pixel reads the source pixel it came from (the inverse turn).
    dx, dy = xs + 0.5 - centre[0], ys + 0.5 - centre[1]
    src_x = centre[0] + math.cos(angle) * dx + math.sin(angle) * dy
    src_y = centre[1] - math.sin(angle) * dx + math.cos(angle) * dy
    grid = torch.as_tensor(np.stack([src_x / width * 2 - 1, src_y / height * 2 - 1],
                                    axis=-1), dtype=torch.float32)[None]
    source = torch.as_tensor(image, dtype=torch.float32).permute(2, 0, 1)[None]
    out = F.grid_sample(source, grid, mode='bilinear', padding_mode='border',
                        align_corners=False)
    return out[0].permute(1, 2, 0).round().clamp(0, 255).numpy().astype(np.uint8)


def test_turned_crops_at_angle_zero_are_the_plain_crops():
    maps = torch.rand(ORIENTATION_BINS + 1, 50, 60, generator=torch.Generator().manual_seed(0))
    region = Region(x0=10.0, y0=20.0, scale_x=0.5, scale_y=0.5, width=60, height=50)
    boxes = torch.tensor([[30.0, 40.0, 40.0, 30.0], [50.0, 60.0, 24.0, 36.0]])
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    plain = crop_patches(maps, region, boxes, (6, 8))
    turned = crop_turned(maps, region, centres, boxes[:, 2:], torch.zeros(2), (6, 8))
    assert torch.allclose(turned, plain, atol=1e-5)


def test_turned_orientation_cells_read_the_image_bin_turned_with_them():
    cells = torch.zeros(1, ORIENTATION_BINS + 1, 2, 2)
    cells[0, 3] = 1.0                   # every gradient in image bin 3
    cells[0, ORIENTATION_BINS] = 0.5    # the magnitude channel does not turn
    bin_width = math.pi / ORIENTATION_BINS
    # A patch turned by one bin sees those gradients one bin lower; by half a bin, split.
    one = turn_orientations(cells, torch.tensor([bin_width]))
    assert torch.allclose(one[0, 2], torch.ones(2, 2)) and float(one[0, 3].sum()) == 0.0
    half = turn_orientations(cells, torch.tensor([0.5 * bin_width]))
    assert torch.allclose(half[0, 2:4], torch.full((2, 2, 2), 0.5))
    # Unsigned orientations wrap around with period pi.
    assert torch.allclose(turn_orientations(cells, torch.tensor([math.pi])), cells, atol=1e-6)
    assert torch.equal(one[0, ORIENTATION_BINS], cells[0, ORIENTATION_BINS])


def test_rotation_filter_follows_a_turning_target():
    # The scene turns 2 degrees a frame about the target's centre for 10 frames; the
    # filters learn every frame, and the tracker's angle follows each refinement's.
    image = _texture((200, 240), seed=4)
    box = (100.0, 80.0, 40.0, 40.0)
    centre = (120.0, 100.0)
    turning = CONFIG.replace(correlation_rotations=15, correlation_rotation_step=4.0)
    refiner = CorrelationRefiner(turning, CPU)
    refiner.initialize(image, box)
    for frame in range(1, 11):
        frame_image = _turned(image, centre, 2.0 * frame)
        outcome = refiner.refine(frame_image, box, (box[2], box[3]))
        refiner.angle = outcome.angle
        box = outcome.box
        refiner.learn(frame_image, box)
    assert math.degrees(refiner.angle) == pytest.approx(20.0, abs=4.0)
    assert math.hypot(box[0] + box[2] / 2 - centre[0], box[1] + box[3] / 2 - centre[1]) < 3.0
    # The box stays upright and keeps its size.
    assert box[2] == pytest.approx(40.0, rel=0.1) and box[3] == pytest.approx(box[2])
    # Without a rotation filter the angle stays 0.
    upright = CorrelationRefiner(CONFIG, CPU)
    upright.initialize(image, (100.0, 80.0, 40.0, 40.0))
    assert upright.refine(_turned(image, centre, 6.0), box, (40.0, 40.0)).angle == 0.0
    with pytest.raises(ValueError, match='correlation_rotations'):
        TrackerConfig(correlation_rotations=4)
