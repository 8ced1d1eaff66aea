"""The peak of a correlation response to a fraction of a sample.

Shared by the correlation filters (where the target is, which size it has) and the camera
motion estimate (how far the whole frame moved): each takes the argmax of a circular response
and refines it with a parabola through its neighbours on every axis.
"""

from __future__ import annotations

import numpy as np
import torch


def peak_index(response: torch.Tensor, allowed: torch.Tensor | None = None) -> int:
    """Flat index of the largest entry of `response` among the true entries of `allowed`
    (a boolean mask of its shape; every entry without one)."""
    searched = response if allowed is None else torch.where(
        allowed, response, torch.full_like(response, -torch.inf))
    return int(torch.argmax(searched))


def subcell_peak(response: torch.Tensor,
                 allowed: torch.Tensor | None = None) -> tuple[list[float], float]:
    """Argmax of a real response with a parabola fitted through each axis's neighbours
    (circularly), as a signed displacement in samples per axis, and the peak value.

    `allowed` (a boolean mask of the response's shape) restricts the argmax to its true
    entries; the parabola still reads the neighbours' real values."""
    flat_index = peak_index(response, allowed)
    index = np.unravel_index(flat_index, tuple(response.shape))
    peak = float(response.reshape(-1)[flat_index])
    displacement = []
    for axis, length in enumerate(response.shape):
        position = float(index[axis])
        if length >= 3:
            before = list(index)
            after = list(index)
            before[axis] = (index[axis] - 1) % length
            after[axis] = (index[axis] + 1) % length
            left = float(response[tuple(before)])
            right = float(response[tuple(after)])
            curvature = left - 2.0 * peak + right
            if curvature < 0:
                position += 0.5 * (left - right) / curvature
        if position > length / 2.0:
            position -= length
        displacement.append(position)
    return displacement, peak
