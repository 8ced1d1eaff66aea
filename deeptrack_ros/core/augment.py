"""Motion-blurred and rotated copies of the first frame, for the first frame's extra positives.

The network starts from random weights and frame 1 gives it one positive (and its mirror).
What changes first about a target is often not its pose but its sharpness: a target that
starts to move fast, or a camera that shakes, smears it along the motion. A copy of the first
frame blurred along a random direction shows the network that look of the same target before
it meets it (first-frame augmentation, as trackers that learn online commonly do beyond the
mirror the paper uses). Only the window around the box is blurred, so the cost does not depend
on the image's size. A copy rotated about the box's centre shows it the target turned in the
image plane, as a turning vehicle, a tilting head or a rolling camera will show it. numpy and
torch only, like the rest of the core.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def line_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised (k, k) kernel that averages along a segment of `length` px at `angle`
    (radians): the blur of a uniform motion during the exposure. Sub-pixel weights come from
    sampling the segment finely and splatting bilinearly."""
    radius = max(1, int(math.ceil(length / 2.0)))
    size = 2 * radius + 1
    kernel = np.zeros((size, size), dtype=np.float64)
    steps = max(2, int(math.ceil(length * 4)))
    for t in np.linspace(-length / 2.0, length / 2.0, steps):
        x, y = radius + t * math.cos(angle), radius + t * math.sin(angle)
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                               (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            if 0 <= x0 + dx < size and 0 <= y0 + dy < size:
                kernel[y0 + dy, x0 + dx] += weight
    return kernel / kernel.sum()


def blurred_window(image: np.ndarray, box: tuple[float, float, float, float], length: float,
                   angle: float, margin: float = 1.0) -> np.ndarray:
    """A copy of `image` whose window around `box` (the box grown by `margin` of its size on
    each side, plus the kernel's reach) is motion-blurred by `line_kernel(length, angle)`."""
    kernel = line_kernel(length, angle)
    reach = kernel.shape[0] // 2
    height, width = image.shape[:2]
    x, y, w, h = box
    x0 = max(0, int(math.floor(x - margin * w)) - reach)
    y0 = max(0, int(math.floor(y - margin * h)) - reach)
    x1 = min(width, int(math.ceil(x + w + margin * w)) + reach)
    y1 = min(height, int(math.ceil(y + h + margin * h)) + reach)
    out = image.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    window = torch.from_numpy(np.ascontiguousarray(image[y0:y1, x0:x1])).float()
    window = window.reshape(y1 - y0, x1 - x0, -1).permute(2, 0, 1).unsqueeze(1)
    padded = F.pad(window, (reach, reach, reach, reach), mode='replicate')
    weights = torch.from_numpy(kernel).float().view(1, 1, *kernel.shape)
    blurred = F.conv2d(padded, weights)[:, 0].permute(1, 2, 0)
    pixels = blurred.round().clamp(0, 255).to(torch.uint8).numpy()
    out[y0:y1, x0:x1] = pixels.reshape(out[y0:y1, x0:x1].shape)
    return out


def blurred_copies(image: np.ndarray, box: tuple[float, float, float, float], count: int,
                   max_length: float, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` copies of `image` blurred around `box` along uniformly random directions, each
    over a length drawn uniformly between a fifth of `max_length` times the box's shorter
    side and all of it (so the blur scales with the target, not the image)."""
    side = float(min(box[2], box[3]))
    copies = []
    for _ in range(count):
        length = side * max_length * float(rng.uniform(0.2, 1.0))
        angle = float(rng.uniform(0.0, math.pi))
        copies.append(blurred_window(image, box, max(length, 1.0), angle))
    return copies


def rotated_window(image: np.ndarray, box: tuple[float, float, float, float], degrees: float,
                   margin: float = 1.0) -> np.ndarray:
    """A copy of `image` whose window around `box` (grown by `margin` of its size on each
    side) shows the scene rotated by `degrees` (counter-clockwise on screen) about the box's
    centre, sampled bilinearly, with the image's edge pixels repeated beyond its border. Unlike
    the blur, the sampling reads the whole image (once per copy, on frame 1 only)."""
    height, width = image.shape[:2]
    x, y, w, h = box
    x0 = max(0, int(math.floor(x - margin * w)))
    y0 = max(0, int(math.floor(y - margin * h)))
    x1 = min(width, int(math.ceil(x + w + margin * w)))
    y1 = min(height, int(math.ceil(y + h + margin * h)))
    out = image.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    cx, cy = x + w / 2.0, y + h / 2.0
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    # Each window pixel shows the scene point that the rotation carries onto it: rotate its
    # offset from the centre back by the angle (y grows downwards, so counter-clockwise on
    # screen is a negative angle in these coordinates).
    ys, xs = torch.meshgrid(torch.arange(y0, y1, dtype=torch.float32) - cy,
                            torch.arange(x0, x1, dtype=torch.float32) - cx, indexing='ij')
    source_x = cx + cos * xs - sin * ys
    source_y = cy + sin * xs + cos * ys
    grid = torch.stack([source_x / max(width - 1, 1) * 2.0 - 1.0,
                        source_y / max(height - 1, 1) * 2.0 - 1.0], dim=-1)[None]
    scene = torch.from_numpy(np.ascontiguousarray(image)).float()
    scene = scene.reshape(height, width, -1).permute(2, 0, 1)[None]
    rotated = F.grid_sample(scene, grid, mode='bilinear', padding_mode='border',
                            align_corners=True)[0].permute(1, 2, 0)
    pixels = rotated.round().clamp(0, 255).to(torch.uint8).numpy()
    out[y0:y1, x0:x1] = pixels.reshape(out[y0:y1, x0:x1].shape)
    return out


def rotated_copies(image: np.ndarray, box: tuple[float, float, float, float], count: int,
                   max_degrees: float, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` copies of `image` rotated about `box`'s centre, each by an angle drawn
    uniformly between a fifth of `max_degrees` and all of it, alternately counter-clockwise
    and clockwise so that both turns are always shown. The rotated window reaches 1.5 box
    sizes beyond the box, farther than any crop of the box takes context from."""
    copies = []
    for index in range(count):
        degrees = float(rng.uniform(0.2, 1.0)) * max_degrees * (1 if index % 2 == 0 else -1)
        copies.append(rotated_window(image, box, degrees, margin=1.5))
    return copies
