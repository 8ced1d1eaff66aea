"""First-frame augmentation: motion blur and rotation of the first image around the box."""

import math

import numpy as np
import pytest

from deeptrack_ros.core.augment import (blurred_copies, blurred_window, line_kernel,
                                       rotated_copies, rotated_window)


@pytest.mark.parametrize('angle', [0.0, math.pi / 2, math.pi / 4])
def test_line_kernel_spreads_one_unit_of_weight_along_its_direction(angle):
    kernel = line_kernel(9.0, angle)
    assert kernel.shape == (11, 11) and kernel.sum() == pytest.approx(1.0)
    ys, xs = np.nonzero(kernel > 1e-9)
    centre = kernel.shape[0] // 2
    along = (xs - centre) * math.cos(angle) + (ys - centre) * math.sin(angle)
    across = -(xs - centre) * math.sin(angle) + (ys - centre) * math.cos(angle)
    assert np.abs(across).max() < 1.5  # a segment, not a disc
    assert along.max() >= 4 and along.min() <= -4  # as long as asked, centred
    weight_centre = (kernel * np.arange(11)[None]).sum(), (kernel * np.arange(11)[:, None]).sum()
    assert weight_centre == pytest.approx((centre, centre), abs=1e-6)  # no shift of the image


def test_blurred_window_smears_only_around_the_box_along_the_motion():
    image = np.zeros((60, 200, 3), dtype=np.uint8)
    image[:, 100:] = 200  # a vertical edge inside the box
    box = (90.0, 20.0, 20.0, 20.0)
    horizontal = blurred_window(image, box, 9.0, 0.0)
    vertical = blurred_window(image, box, 9.0, math.pi / 2)
    row = horizontal[30, :, 0].astype(int)
    assert 0 < row[98] < row[101] < 200  # the edge became a ramp across it
    np.testing.assert_array_equal(vertical, image)  # blur along the edge changes nothing
    far = blurred_window(np.where(np.arange(200)[None, :, None] % 2, 255, 0)
                         .astype(np.uint8).repeat(60, 0), box, 9.0, 0.0)
    assert far[30, 5, 0] in (0, 255) and far[30, 195, 0] in (0, 255)  # outside: untouched


def test_blurred_copies_follow_the_generator_and_scale_with_the_box():
    rng_image = np.random.default_rng(0).integers(0, 255, (80, 120, 3), dtype=np.uint8)
    box = (40.0, 20.0, 30.0, 40.0)
    first = blurred_copies(rng_image, box, 3, 0.25, np.random.default_rng(7))
    again = blurred_copies(rng_image, box, 3, 0.25, np.random.default_rng(7))
    assert len(first) == 3
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, rng_image)
        assert a.dtype == np.uint8 and a.shape == rng_image.shape


def test_rotated_window_turns_the_scene_about_the_box_centre_and_nothing_beyond():
    image = np.zeros((80, 120, 3), dtype=np.uint8)
    box = (50.0, 30.0, 20.0, 20.0)  # centre (60, 40)
    image[40, 70] = 255  # 10 px right of the centre
    image[2, 2] = 99  # far outside the window
    np.testing.assert_array_equal(rotated_window(image, box, 0.0), image)
    turned = rotated_window(image, box, 90.0)
    # Counter-clockwise on screen: right of the centre goes to above it.
    assert turned[30, 60, 0] == 255 and turned[40, 70, 0] == 0
    assert turned[2, 2, 0] == 99  # outside the window: untouched
    back = rotated_window(turned, box, -90.0)
    assert back[40, 70, 0] == 255


def test_rotated_copies_follow_the_generator_and_turn_both_ways():
    image = np.random.default_rng(0).integers(0, 255, (80, 120, 3), dtype=np.uint8)
    box = (40.0, 20.0, 30.0, 40.0)
    first = rotated_copies(image, box, 4, 30.0, np.random.default_rng(3))
    again = rotated_copies(image, box, 4, 30.0, np.random.default_rng(3))
    assert len(first) == 4
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.uint8 and a.shape == image.shape
        assert not np.array_equal(a, image)
    # The same draws, replayed: copies alternate in sign and stay within the largest angle.
    rng = np.random.default_rng(3)
    for index, copy in enumerate(first):
        degrees = float(rng.uniform(0.2, 1.0)) * 30.0 * (1 if index % 2 == 0 else -1)
        assert 6.0 <= abs(degrees) <= 30.0
        np.testing.assert_array_equal(copy, rotated_window(image, box, degrees, margin=1.5))
