"""Sample pools A+ and A- with temporal, quality-weighted sampling (Sec. III-A, Eq. 11-14).

Each pool is a fixed-capacity ring buffer on the tracker's device: samples never travel back
to the host, and the oldest samples leave first once the pool is full. A sample is either its
cue patches (stage 'patches') or, when the first layer is fixed after the first frame, that
layer's output (stage 'first'), so training never recomputes it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


class SamplePool:
    """A bounded FIFO of training samples: network inputs, labels, importance and frame."""

    def __init__(self, capacity: int, patch_shape: tuple[int, ...],
                 device: torch.device, stage: str = 'patches') -> None:
        self.capacity = capacity
        self.stage = stage
        self.patches = torch.zeros((capacity, *patch_shape), device=device)
        self.labels = torch.zeros(capacity, device=device)
        self.importance = torch.zeros(capacity, device=device)
        self.frames = np.zeros(capacity, dtype=np.int64)
        self.quality = np.ones(capacity, dtype=np.float64)
        self._next = 0
        self.size = 0

    def add(self, patches: torch.Tensor, labels: torch.Tensor, importance: torch.Tensor,
            frame: int, quality: float) -> None:
        """Append samples of one frame (with that frame's quality Q), oldest out when full."""
        count = patches.shape[0]
        if count > self.capacity:
            patches, labels, importance = (patches[-self.capacity:], labels[-self.capacity:],
                                           importance[-self.capacity:])
            count = self.capacity
        slots = (self._next + np.arange(count)) % self.capacity
        index = torch.from_numpy(slots).to(self.patches.device)
        self.patches[index] = patches
        self.labels[index] = labels.to(self.labels.dtype)
        self.importance[index] = importance.to(self.importance.dtype)
        self.frames[slots] = frame
        self.quality[slots] = quality
        self._next = int((self._next + count) % self.capacity)
        self.size = min(self.capacity, self.size + count)

    def mapped(self, transform: Callable[[torch.Tensor], torch.Tensor],
               stage: str) -> 'SamplePool':
        """A pool with the same samples in the same slots, their inputs passed through
        `transform` (e.g. the first layer once it is fixed)."""
        sample = transform(self.patches[:1])
        pool = SamplePool(self.capacity, tuple(sample.shape[1:]), self.patches.device, stage)
        if self.size:
            pool.patches[:self.size] = transform(self.patches[:self.size])
        pool.labels.copy_(self.labels)
        pool.importance.copy_(self.importance)
        pool.frames[:] = self.frames
        pool.quality[:] = self.quality
        pool._next, pool.size = self._next, self.size
        return pool

    def frames_in_pool(self) -> np.ndarray:
        """Frame index of every stored sample, in slot order (first `size` slots are valid)."""
        return self.frames[:self.size]

    def quality_in_pool(self) -> np.ndarray:
        """Quality Q of the frame of every stored sample, in slot order."""
        return self.quality[:self.size]

    def gather(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Patches, labels and importance of the samples at the given slots."""
        slots = torch.from_numpy(index).to(self.patches.device)
        return self.patches[slots], self.labels[slots], self.importance[slots]


def positive_probabilities(quality: np.ndarray, use_quality: bool) -> np.ndarray:
    """Eq. 11 x Eq. 14: uniform over the pool, times the quality Q of each sample's frame."""
    weights = np.ones(len(quality), dtype=np.float64)
    if use_quality:
        weights = weights * np.clip(quality, 0.0, None)
    return _normalise(weights)


def negative_probabilities(frames: np.ndarray, quality: np.ndarray, current: int,
                           sigma: float, use_quality: bool) -> np.ndarray:
    """Eq. 12 x Eq. 14: exp(-sigma (t - t')^2), times the quality Q of the sample's frame.

    The exponent is shifted by its maximum before exponentiating so that a pool holding only
    old frames still yields a proper distribution instead of all zeros.
    """
    age = (current - frames).astype(np.float64)
    logits = -sigma * age * age
    weights = np.exp(logits - logits.max()) if len(logits) else logits
    if use_quality:
        weights = weights * np.clip(quality, 0.0, None)
    return _normalise(weights)


def _normalise(weights: np.ndarray) -> np.ndarray:
    total = weights.sum()
    if total <= 0 or not np.isfinite(total):
        return np.full(len(weights), 1.0 / max(len(weights), 1))
    return weights / total
