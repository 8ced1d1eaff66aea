"""Camera motion: the image shift between frames by phase correlation, and the tracker's search
moved by it when the camera jolts."""

import numpy as np
import pytest
import torch

from deeptrack_ros.core.boxes import iou_xywh
from deeptrack_ros.core.camera_motion import CameraMotion, reduced_gray
from deeptrack_ros.core.config import TrackerConfig, preset
from test_core_correlation import _texture, _warp
from test_core_tracker import FAST, run, synthetic_sequence

CPU = torch.device('cpu')


@pytest.mark.parametrize('size, shift', [((120, 160), (5.0, -3.0)),
                                         ((240, 320), (-17.5, 9.0)),
                                         ((480, 640), (42.0, 26.0))])
def test_phase_correlation_measures_a_known_image_shift(size, shift):
    image = _texture(size, seed=4, grain=max(6, size[0] // 20))
    motion = CameraMotion(80, 0.1, 0.5, CPU)
    motion.reset(image)
    dx, dy, peak = motion.shift(_warp(image, shift=shift))
    # Measured on frames reduced by up to 8 (640 px -> 80): within a quarter of that.
    factor = reduced_gray(image, 80)[1]
    assert dx == pytest.approx(shift[0], abs=max(1.0, factor / 4))
    assert dy == pytest.approx(shift[1], abs=max(1.0, factor / 4))
    assert peak > 0.2


def test_each_shift_is_measured_from_the_frame_before():
    image = _texture((120, 160), seed=5)
    motion = CameraMotion(80, 0.1, 0.5, CPU)
    motion.reset(image)
    first = motion.shift(_warp(image, shift=(6.0, 0.0)))
    second = motion.shift(_warp(image, shift=(12.0, 4.0)))
    assert first[:2] == pytest.approx((6.0, 0.0), abs=1.0)
    assert second[:2] == pytest.approx((6.0, 4.0), abs=1.0)


def test_unrelated_or_blank_frames_give_no_shift():
    motion = CameraMotion(80, 0.1, 0.5, CPU)
    motion.reset(_texture((120, 160), seed=1))
    dx, dy, peak = motion.shift(_texture((120, 160), seed=2))
    assert (dx, dy) == (0.0, 0.0) and peak < 0.1
    blank = np.full((120, 160, 3), 90, np.uint8)
    dx, dy, peak = motion.shift(blank)
    assert (dx, dy) == (0.0, 0.0) and np.isfinite(peak)
    with pytest.raises(RuntimeError, match='before reset'):
        CameraMotion(80, 0.1, 0.5, CPU).shift(blank)


def test_a_large_object_crossing_a_still_scene_does_not_move_the_camera():
    """A textured object a fifth of the frame moves 10 px over a still background (a car
    passing a still camera): the correlation peaks at its motion, but the still background
    also peaks at zero, so no shift is reported; with the rule off the object's motion is."""
    background, thing = _texture((120, 160), seed=1), _texture((60, 70), seed=2)

    def frame(x):
        image = background.copy()
        image[20:80, x:x + 70] = thing
        return image

    def measured(still_ratio):
        motion = CameraMotion(80, 0.1, still_ratio, CPU)
        motion.reset(frame(10))
        return motion.shift(frame(20))

    assert measured(0.5)[:2] == (0.0, 0.0)
    assert measured(1.0)[:2] == pytest.approx((10.0, 0.0), abs=1.0)


def test_reduced_gray_averages_whole_blocks_to_the_requested_side():
    image = np.zeros((50, 81, 3), np.uint8)
    image[:, 40:] = 200
    gray, factor = reduced_gray(image, 40)
    assert factor == 3 and gray.shape == (16, 27)
    assert gray[0, 0] == pytest.approx(0.0) and gray[0, -1] == pytest.approx(200.0, rel=1e-3)
    assert reduced_gray(image[..., 0], 100)[1] == 1


def test_the_search_follows_a_camera_jolt():
    """The whole frame jumps 50 px sideways at frame 15 (the camera jolts). With camera motion
    (every particle on the carried place: share 1) the particles are drawn around where the
    scene carried the target, and the box is on it;
    without, they are drawn where the target was in the image (this distinct target is still
    found there by the far-jump check, a target among look-alikes would not be)."""
    images, boxes = synthetic_sequence(frames=20)
    jolt, at = 50.0, 15
    images = [image if t < at else _warp(image, shift=(jolt, 0.0))
              for t, image in enumerate(images)]
    boxes = boxes.copy()
    boxes[at:, 0] += jolt
    centre_before = boxes[at - 1, 0] + boxes[at - 1, 2] / 2

    def after_jolt(side):
        config = FAST.replace(camera_motion_side=side, camera_motion_share=1.0)
        results = run(config, images[:at + 3], boxes[0])
        particles = results[at].particles
        spread_centre = float(np.mean(particles[:, 0] + particles[:, 2] / 2))
        overlaps = iou_xywh(np.array([r.box for r in results]), boxes[:at + 3])
        return spread_centre - centre_before, overlaps

    moved, overlaps = after_jolt(80)
    assert moved == pytest.approx(jolt, abs=8.0)
    assert overlaps.min() > 0.7, overlaps
    stayed, _ = after_jolt(0)
    assert abs(stayed) < 8.0


def _pan_sequence(pursued, frames=20, at=15, pan=60.0):
    """A reddish target drifting over a gray textured scene; from frame `at` on the scene is
    moved `pan` px sideways (the camera turned). With `pursued` the camera turned to keep the
    target where it was in the image; otherwise the target moved with the scene."""
    rng = np.random.default_rng(7)
    # Gray 6-px blocks: a scene with structure at every frequency, as real scenes have (a
    # smooth texture would leave the target's edges to dominate the whitened correlation).
    blocks = rng.random((150 // 6 + 1, 260 // 6 + 1)) * 200 + 25
    scene = np.repeat(np.kron(blocks, np.ones((6, 6)))[:150, :260, None], 3, axis=2)
    scene = scene.astype(np.uint8)
    target = (rng.random((8, 6, 1)) * 0.6 + 0.3) * np.array([1.0, 0.35, 0.3])
    target = np.kron(target, np.ones((5, 5, 1))) * 255
    images, boxes = [], []
    for t in range(frames):
        moved = t >= at
        image = _warp(scene, shift=(pan, 0.0)) if moved else scene.copy()
        x0 = 70 + int(round(t * 1.5)) + (pan if moved and not pursued else 0)
        x0, y0 = int(x0), 55
        image[y0:y0 + 40, x0:x0 + 30] = target.astype(np.uint8)
        images.append(image)
        boxes.append((float(x0), float(y0), 30.0, 40.0))
    return images, np.array(boxes), at


@pytest.mark.parametrize('pursued', [False, True])
def test_half_the_search_stays_where_the_target_was_when_the_camera_may_pursue_it(pursued):
    """At frame 15 the scene moves 60 px (three search deviations). Either the target moved
    with it (a jolt) or the camera turned to keep it in view (pursuit). With a share of 0.5
    each case keeps half the particles near the target and the box on it; with a share of 1
    every particle is drawn where the scene carried the target, so under pursuit almost none
    is near it."""
    images, boxes, at = _pan_sequence(pursued)
    centre = boxes[at, 0] + boxes[at, 2] / 2

    def near_target(share):
        config = FAST.replace(camera_motion_side=80, camera_motion_share=share)
        results = run(config, images, boxes[0])
        particles = results[at].particles
        offsets = np.abs(particles[:, 0] + particles[:, 2] / 2 - centre)
        overlaps = iou_xywh(np.array([r.box for r in results]), boxes)
        return float(np.mean(offsets < 30.0)), overlaps

    share, overlaps = near_target(0.5)
    assert 0.4 < share < 0.75
    assert overlaps[at:].min() > 0.6, overlaps
    carried_only, _ = near_target(1.0)
    if pursued:
        assert carried_only < 0.1
    else:
        assert carried_only > 0.8


def test_camera_motion_is_off_in_the_paper_preset_and_validated():
    assert TrackerConfig().camera_motion_side == 0
    assert preset('best').camera_motion_side > 0 and preset('best').camera_motion_share == 0.5
    with pytest.raises(ValueError, match='camera_motion_side'):
        TrackerConfig(camera_motion_side=-1)
    with pytest.raises(ValueError, match='camera_motion_share'):
        TrackerConfig(camera_motion_share=1.5)
