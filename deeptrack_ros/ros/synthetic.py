"""A generated video with known truth, for the demo and the node's end-to-end tests.

A textured target moves along a smooth closed path and grows and shrinks over a textured,
static background, with a little sensor noise per frame. Unlike the evaluation's fixture
(`deeptrack_ros.eval.synthetic`, a rigid translation for harness tests), the target here also
changes scale, so the demo exercises the tracker's scale estimate as a camera would.

Frames are rendered on demand (`frame(i)`), so a long sequence costs no memory up front, and
the same seed always gives the same pixels and boxes. Truth boxes are 0-based (x, y, w, h) in
whole pixels, exactly the pixels the target covers.
"""

from __future__ import annotations

import math

import numpy as np

Box = tuple[float, float, float, float]


class SyntheticSequence:
    """`count` RGB frames of `size` (width, height) with a moving, scaling target."""

    def __init__(self, count: int = 150, size: tuple[int, int] = (320, 240),
                 target_size: tuple[int, int] | None = None, seed: int = 0,
                 amplitude: float = 0.22, scale_amplitude: float = 0.25,
                 noise: float = 3.0) -> None:
        if count < 1:
            raise ValueError(f'count must be at least 1, got {count}')
        width, height = size
        if width < 16 or height < 16:
            raise ValueError(f'size must be at least 16x16, got {width}x{height}')
        self.count = count
        self.size = (width, height)
        rng = np.random.default_rng(seed)
        tw, th = target_size or (max(8, width // 7), max(8, height // 6))
        self._base = (tw, th)
        self._amplitude = amplitude
        self._scale_amplitude = scale_amplitude
        self._noise = noise
        self._seed = seed
        self._background = _texture(rng, height, width, cell=12, low=50, high=140)
        self._target = _target_texture(rng, th * 2, tw * 2)

    def __len__(self) -> int:
        return self.count

    def box(self, index: int) -> Box:
        """The true box of frame `index`."""
        width, height = self.size
        phase = 2.0 * math.pi * index / self.count
        scale = 1.0 + self._scale_amplitude * math.sin(1.5 * phase)
        w = max(4, int(round(self._base[0] * scale)))
        h = max(4, int(round(self._base[1] * scale)))
        cx = width / 2.0 + self._amplitude * width * math.sin(phase)
        cy = height / 2.0 + self._amplitude * height * math.sin(2.0 * phase) / 2.0
        x = int(round(min(max(cx - w / 2.0, 0), width - w)))
        y = int(round(min(max(cy - h / 2.0, 0), height - h)))
        return (float(x), float(y), float(w), float(h))

    def frame(self, index: int, target: bool = True) -> np.ndarray:
        """Frame `index` as HxWx3 uint8 RGB; `target=False` leaves the target out (it has
        left the view, or is fully occluded), with the same background and noise."""
        if not 0 <= index < self.count:
            raise IndexError(f'frame {index} outside 0..{self.count - 1}')
        x, y, w, h = (int(v) for v in self.box(index))
        image = self._background.copy()
        if target:
            rows = np.arange(h) * self._target.shape[0] // h
            cols = np.arange(w) * self._target.shape[1] // w
            image[y:y + h, x:x + w] = self._target[rows[:, None], cols[None, :]]
        if self._noise > 0:
            rng = np.random.default_rng((self._seed, index))
            image += rng.normal(0.0, self._noise, size=image.shape).astype(np.float32)
        return np.clip(image, 0, 255).astype(np.uint8)

    def boxes(self) -> np.ndarray:
        """All true boxes, (count, 4)."""
        return np.asarray([self.box(i) for i in range(self.count)], dtype=np.float64)


def _texture(rng: np.random.Generator, height: int, width: int, cell: int, low: int,
             high: int) -> np.ndarray:
    """A blocky random colour texture, smoothed a little, as float32 HxWx3."""
    coarse = rng.integers(low, high, size=(height // cell + 2, width // cell + 2, 3))
    image = np.kron(coarse.astype(np.float32), np.ones((cell, cell, 1), np.float32))
    image = image[:height, :width]
    smooth = image.copy()
    for axis in (0, 1):
        smooth = (np.roll(smooth, 1, axis) + smooth + np.roll(smooth, -1, axis)) / 3.0
    return smooth


def _target_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A bright, distinctive target: a coloured checkerboard with a ring, as float32."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    checker = ((yy // max(2, height // 5) + xx // max(2, width // 5)) % 2).astype(bool)
    target = np.empty((height, width, 3), np.float32)
    target[checker] = (230, 50, 40)
    target[~checker] = (250, 215, 40)
    radius = np.hypot((yy - height / 2) / height, (xx - width / 2) / width)
    target[(radius > 0.28) & (radius < 0.36)] = (30, 40, 200)
    target += rng.normal(0.0, 6.0, size=target.shape).astype(np.float32)
    return np.clip(target, 0, 255)
