"""How far the whole image moved since the last frame: phase correlation of reduced frames.

Why: a robot's camera turns, shakes and rides along, and every such move shifts the target in
the image by as much as the scene. The particle cloud and the motion prior are centred where
the target was in the last image; a jolt of 50 px (OTB Couple, frames 88-90) throws the target
out of a 20 px search, and a target that is lost while the camera pans is searched for where
it was in the image, not in the world. On OTB Couple the last position moved by the scene's
shift predicts the target's centre with a mean error of 4.8 px instead of 9.6 (the largest
miss 15 px instead of 43), on Deer 12.5 instead of 19.9 (docs/accuracy-history.md).

Phase correlation measures one translation for the whole frame from the normalised cross-power
spectrum of two frames: its inverse transform peaks at the shift, to a fraction of a pixel,
whatever the brightness and texture, for the cost of three FFTs of a frame reduced to
`side` pixels. The peak's height says how much of the frame agrees with that shift (1 when
all of it moved together); below `min_peak` nothing is trusted and the shift is zero. Where
part of the frame did not move (a still camera, a large object crossing it), the response
also peaks at zero, and the shift is zero too: over the ten OTB sequences that rule leaves
every prediction as good as the last position or better (OTB Crossing's passing cars would
otherwise carry the search 60 px along the road).

Known limit: a shift under one reduced pixel (the frame's longer side over `side`: 8 px for a
640-px frame at side 80) always reads as zero, since the peak itself then lies within one
reduced pixel of no shift. OTB MotorRolling's camera pans about 5 px a frame and is measured
on 5 of 163 frames at side 80, 113 at side 320 (docs/accuracy-history.md, session 20). While the
target is tracked the search (a deviation of min(20 px, half its height) in `best`) mostly
covers such a pan; a lost target is not carried along it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from deeptrack_ros.core.peaks import subcell_peak

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_EPS = 1e-8


def reduced_gray(image: np.ndarray, side: int) -> tuple[np.ndarray, int]:
    """The frame as gray float32 averaged over k x k blocks, k the smallest whole factor that
    brings its longer side to at most `side` px (1 when it is already that small), and k.
    Averaging whole blocks on the host copies only the small frame to the device."""
    height, width = image.shape[:2]
    factor = max(1, math.ceil(max(height, width) / side))
    rows, cols = height // factor * factor, width // factor * factor
    pixels = image[:rows, :cols].astype(np.float32)
    gray = pixels @ _LUMA if pixels.ndim == 3 else pixels
    blocks = gray.reshape(rows // factor, factor, cols // factor, factor)
    return blocks.mean(axis=(1, 3)), factor


class CameraMotion:
    """The image shift between consecutive frames (`reset` with the first, then `shift`)."""

    def __init__(self, side: int, min_peak: float, still_ratio: float,
                 device: torch.device) -> None:
        self.side = side
        self.min_peak = min_peak
        self.still_ratio = still_ratio
        self.device = device
        self._spectrum: torch.Tensor | None = None
        self._window: torch.Tensor | None = None
        self._factor = 1

    def reset(self, image: np.ndarray) -> None:
        """Forget the past and take `image` as the frame the next shift is measured from."""
        gray, self._factor = reduced_gray(image, self.side)
        rows = torch.hann_window(gray.shape[0], periodic=False, device=self.device)
        cols = torch.hann_window(gray.shape[1], periodic=False, device=self.device)
        self._window = rows[:, None] * cols[None, :]
        self._spectrum = self._transform(gray)

    def shift(self, image: np.ndarray) -> tuple[float, float, float]:
        """(dx, dy, peak): how far the content of `image` moved since the last frame, in image
        pixels, and the correlation peak. (0, 0, peak) where the peak is below min_peak, or
        where the response at no shift reaches still_ratio of the peak: a still camera
        watching a large moving object (a passing car) peaks at the object's motion and at
        zero, and the scene did not move. `image` becomes the frame the next shift is
        measured from."""
        if self._spectrum is None:
            raise RuntimeError('CameraMotion.shift() called before reset()')
        gray, _ = reduced_gray(image, self.side)
        spectrum = self._transform(gray)
        cross = spectrum * torch.conj(self._spectrum)
        cross = cross / (cross.abs() + _EPS)
        self._spectrum = spectrum
        response = torch.fft.ifft2(cross).real
        (dy, dx), peak = subcell_peak(response)
        if peak < self.min_peak or self._still(response) >= self.still_ratio * peak:
            return 0.0, 0.0, peak
        return dx * self._factor, dy * self._factor, peak

    @staticmethod
    def _still(response: torch.Tensor) -> float:
        """The response within one reduced pixel of no shift at all (circularly)."""
        return float(torch.roll(response, (1, 1), (0, 1))[:3, :3].max())

    def _transform(self, gray: np.ndarray) -> torch.Tensor:
        """The windowed frame's spectrum (its mean removed, so the window's own edge does not
        dominate the correlation)."""
        pixels = torch.from_numpy(np.ascontiguousarray(gray)).to(self.device)
        pixels = (pixels - pixels.mean()) * self._window
        return torch.fft.fft2(pixels)
