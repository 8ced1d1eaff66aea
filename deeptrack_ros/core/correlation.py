"""Correlation filters that refine the CNN's estimate: position to a fraction of a cell, and
scale (discriminative scale space tracking, Danelljan et al., BMVC 2014).

Why: Eq. 6 labels every window with IoU > 0.5 as the target, so the network's response is a
plateau about a fifth of the object wide and it cannot tell boxes a few per cent apart in size
from each other. A correlation filter is trained with a narrow Gaussian label instead: its
response peaks where the learned appearance aligns with the image, to a fraction of a pixel,
and a one-dimensional filter across a pyramid of box sizes does the same for scale. The CNN
still decides where the target is (it searches the whole particle cloud and knows when the
target is lost); the filters move its estimate within a small neighbourhood, and when it jumps
farther the tracker compares their peaks there and where the target was
(`DeepTracker._refine`).

Every filter is a ridge regression solved in closed form in the Fourier domain per feature
channel, A_l = conj(G) F_l and B = sum_l conj(F_l) F_l + lambda, blended over frames with a
learning rate. Features are gradient-orientation histograms on cells (HOG-like) plus the mean
intensity of each cell and, for colour input with correlation_color, the mean opponent colour
of each cell, computed with torch so the refiner runs on the tracker's device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deeptrack_ros.core.boxes import center_of
from deeptrack_ros.core.config import TrackerConfig
from deeptrack_ros.core.cues import (Region, central_differences, crop_patches, extract_region,
                                     luminance, sample_windows)
from deeptrack_ros.core.peaks import peak_index, subcell_peak
from deeptrack_ros.core.result import Box

ORIENTATION_BINS = 9
"""Unsigned gradient orientations over [0, pi) per cell, as in HOG."""
_HOG_CLIP = 0.2
_EPS = 1e-6


@dataclass(frozen=True)
class Refinement:
    """What the filters did to one estimate: the refined box, the translation filter's shift
    (image px), the scale factor applied and the translation response's peak value."""

    box: Box
    shift: tuple[float, float]
    scale_factor: float
    peak: float
    shift_accepted: bool
    angle: float = 0.0


@dataclass(frozen=True)
class PreviousFrame:
    """The frame before the one being learned, for telling what moved with the target from
    what stayed with the scene: its image, the target's centre in it (x, y) and how far the
    whole image moved since (px, x and y); `first` when it is the frame the filters were
    initialised on."""

    image: np.ndarray
    centre: tuple[float, float]
    camera_shift: tuple[float, float] = (0.0, 0.0)
    first: bool = False


def orientation_cells(gray: torch.Tensor, cell: int) -> torch.Tensor:
    """HOG votes of a (1, H, W) gray image in [0, 1], summed over cell x cell blocks:
    (bins + 1, H // cell, W // cell).

    Each pixel votes its gradient magnitude into the two nearest of nine unsigned orientation
    bins; the last channel is the mean intensity. Sampling this grid bilinearly gives a cell
    histogram for a box of any size and position, so one pass over the region serves the
    translation window and every box of the scale pyramid.
    """
    gx, gy = central_differences(gray)
    magnitude = torch.sqrt(gx * gx + gy * gy)
    angle = torch.remainder(torch.atan2(gy, gx), math.pi) * (ORIENTATION_BINS / math.pi)
    lower = torch.floor(angle)
    upper_weight = angle - lower
    lower_bin = lower.long() % ORIENTATION_BINS
    upper_bin = (lower_bin + 1) % ORIENTATION_BINS
    maps = torch.zeros((ORIENTATION_BINS + 1,) + gray.shape[1:], device=gray.device,
                       dtype=gray.dtype)
    maps[:ORIENTATION_BINS].scatter_add_(0, lower_bin, magnitude * (1.0 - upper_weight))
    maps[:ORIENTATION_BINS].scatter_add_(0, upper_bin, magnitude * upper_weight)
    maps[ORIENTATION_BINS] = gray[0]
    return F.avg_pool2d(maps.unsqueeze(0), cell, cell)[0]


def opponent_cells(rgb: torch.Tensor, cell: int, weight: float) -> torch.Tensor:
    """Mean opponent colour of (3, H, W) RGB in [0, 1] over cell x cell blocks, times
    `weight`: (2, H // cell, W // cell), red-green and yellow-blue, both zero on gray.

    Why: orientation histograms describe shape, and shape changes when the target rotates or
    turns; its colours do not. The opponent axes leave out intensity (its own channel), so a
    brightness change moves neither of them.
    """
    red, green, blue = rgb[0], rgb[1], rgb[2]
    chroma = torch.stack([(red - green) / math.sqrt(2.0),
                          (red + green - 2.0 * blue) / math.sqrt(6.0)])
    return F.avg_pool2d(chroma.unsqueeze(0), cell, cell)[0] * weight


def normalise_cells(cells: torch.Tensor) -> torch.Tensor:
    """HOG normalisation of (N, bins + 1 [+ colours], h, w) sampled cells: each cell's
    orientations are divided by the gradient energy of its 3 x 3 neighbours and clipped
    (contrast invariance); the intensity channel is centred so uniform regions of different
    brightness differ; colour channels (already centred on gray) pass unchanged."""
    hog = cells[:, :ORIENTATION_BINS]
    energy = F.avg_pool2d((hog * hog).sum(dim=1, keepdim=True), 3, 1, 1,
                          count_include_pad=False)
    hog = (hog / torch.sqrt(energy * ORIENTATION_BINS + _EPS)).clamp(max=_HOG_CLIP)
    intensity = cells[:, ORIENTATION_BINS:ORIENTATION_BINS + 1] - 0.5
    return torch.cat([hog, intensity, cells[:, ORIENTATION_BINS + 1:]], dim=1)


def _hann(length: int, device: torch.device) -> torch.Tensor:
    """A Hann window that is positive at both ends (so no feature is erased entirely)."""
    n = torch.arange(length, device=device, dtype=torch.float32)
    return 0.5 - 0.5 * torch.cos(2.0 * math.pi * (n + 1) / (length + 1))


def turn_orientations(cells: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Orientation cells (N, bins + 1 [+ colours], h, w) of patches sampled turned by `angles`
    (N, radians), with their orientation votes moved to the patch's own frame: a gradient at
    angle phi in the image is at phi - angle in a patch turned by angle, so patch bin b reads
    image bin b + angle / bin width, interpolated linearly and circularly (the bins are
    unsigned, period pi). The other channels do not depend on the angle."""
    bins = ORIENTATION_BINS
    offset = torch.remainder(angles * (bins / math.pi), float(bins))
    whole = torch.floor(offset)
    fraction = (offset - whole).view(-1, 1, 1, 1)
    index = (torch.arange(bins, device=cells.device).unsqueeze(0)
             + whole.long().unsqueeze(1)) % bins
    gather = index.view(index.shape[0], bins, 1, 1).expand(-1, -1, *cells.shape[2:])
    lower = torch.gather(cells[:, :bins], 1, gather)
    upper = torch.gather(cells[:, :bins], 1, (gather + 1) % bins)
    turned = (1.0 - fraction) * lower + fraction * upper
    return torch.cat([turned, cells[:, bins:]], dim=1)


def crop_turned(maps: torch.Tensor, region: Region, centres: torch.Tensor,
                sizes: torch.Tensor, angles: torch.Tensor, shape: tuple[int, int]
                ) -> torch.Tensor:
    """Sample (N, C, h, w) windows of the cell maps: window n is sizes[n] (w, h) image px
    centred at centres[n] (x, y) and turned by angles[n] radians (clockwise on screen, image
    y pointing down), on a grid of `shape` (h, w) cells; orientation votes are turned with
    it (`turn_orientations`). At angle 0 it samples what `crop_patches` samples."""
    out_h, out_w = shape
    device = maps.device
    u = (torch.arange(out_w, device=device, dtype=torch.float32) + 0.5) / out_w - 0.5
    v = (torch.arange(out_h, device=device, dtype=torch.float32) + 0.5) / out_h - 0.5
    du = u.view(1, 1, out_w) * sizes[:, 0].view(-1, 1, 1)
    dv = v.view(1, out_h, 1) * sizes[:, 1].view(-1, 1, 1)
    cos, sin = torch.cos(angles).view(-1, 1, 1), torch.sin(angles).view(-1, 1, 1)
    xs = centres[:, 0].view(-1, 1, 1) + cos * du - sin * dv
    ys = centres[:, 1].view(-1, 1, 1) + sin * du + cos * dv
    gx = (xs - region.x0) * region.scale_x * (2.0 / region.width) - 1.0
    gy = (ys - region.y0) * region.scale_y * (2.0 / region.height) - 1.0
    return turn_orientations(sample_windows(maps, torch.stack([gx, gy], dim=-1)), angles)


def _reach_mask(shape: tuple[int, int], fraction: float, device: torch.device,
                moved: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """The displacements (circular indices, 0 = none) of a window of `shape` cells that stay
    within `fraction` of the window's size on both axes, for a window already `moved` (cells
    per axis, in `shape`'s order) from where the reach is counted."""
    axes = []
    for length, already in zip(shape, moved):
        offsets = torch.arange(length, device=device, dtype=torch.float32)
        offsets = torch.where(offsets > length // 2, offsets - length, offsets)
        axes.append((offsets + already).abs() <= fraction * length)
    return axes[0][:, None] & axes[1][None, :]


def _gaussian_label(shape: tuple[int, ...], sigma: float, device: torch.device) -> torch.Tensor:
    """A Gaussian of the given deviation (cells) peaking at index 0 of every axis (circularly),
    so a response's argmax index is directly the displacement."""
    label = torch.ones(shape, device=device)
    for axis, length in enumerate(shape):
        offsets = torch.arange(length, device=device, dtype=torch.float32)
        offsets = torch.where(offsets > length // 2, offsets - length, offsets)
        profile = torch.exp(-0.5 * (offsets / sigma) ** 2)
        view = [1] * len(shape)
        view[axis] = length
        label = label * profile.view(view)
    return label


class _Filter:
    """One multi-channel correlation filter in the Fourier domain, over the last `dims` axes
    of (C, ...) features: numerator A (C, ...) and denominator B (...), blended over frames."""

    def __init__(self, label: torch.Tensor, window: torch.Tensor, regulariser: float,
                 first_share: float = 0.0) -> None:
        self.dims = tuple(range(-label.dim(), 0))
        self.label_f = torch.fft.fftn(label, dim=self.dims)
        self.window = window
        self.regulariser = regulariser
        self.first_share = first_share
        self.numerator: torch.Tensor | None = None
        self.denominator: torch.Tensor | None = None
        # The solution the filter was replaced by last (rate 1: the first frame), of which it
        # keeps `first_share` whatever it learns after.
        self._first: tuple[torch.Tensor, torch.Tensor] | None = None

    def learn(self, features: torch.Tensor, rate: float) -> None:
        """Blend this sample's closed-form solution into the filter (rate 1 replaces it)."""
        spectrum = torch.fft.fftn(features * self.window, dim=self.dims)
        numerator = torch.conj(self.label_f) * spectrum
        denominator = (spectrum.real ** 2 + spectrum.imag ** 2).sum(dim=0)
        if self.numerator is None or rate >= 1.0:
            self.numerator, self.denominator = numerator, denominator
            self._first = (numerator, denominator)
        else:
            self.numerator = (1.0 - rate) * self.numerator + rate * numerator
            self.denominator = (1.0 - rate) * self.denominator + rate * denominator

    def respond(self, features: torch.Tensor) -> torch.Tensor:
        """The real correlation response to features of the filter's shape (with the kept
        share of the first solution, if any)."""
        return self.respond_both(features)[0]

    def respond_both(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The response with the kept share of the first solution and that of the learned
        filter alone (the same tensor without a share). The features' spectrum is computed
        once for both, since it is most of a response's cost."""
        spectrum = torch.fft.fftn(features * self.window, dim=self.dims)
        learned = self._response(spectrum, self.numerator, self.denominator)
        if self.first_share <= 0 or self._first is None:
            return learned, learned
        share = self.first_share
        numerator = (1.0 - share) * self.numerator + share * self._first[0]
        denominator = (1.0 - share) * self.denominator + share * self._first[1]
        return self._response(spectrum, numerator, denominator), learned

    def _response(self, spectrum: torch.Tensor, numerator: torch.Tensor,
                  denominator: torch.Tensor) -> torch.Tensor:
        combined = (torch.conj(numerator) * spectrum).sum(dim=0)
        return torch.fft.ifftn(combined / (denominator + self.regulariser),
                               dim=self.dims).real


class CorrelationRefiner:
    """Position and scale filters around the target, trained from the first box and then from
    every frame the tracker learns from (see `TrackerConfig.correlation_refine`). Gray input
    (`gray`) gets no colour channels whatever correlation_color says."""

    def __init__(self, config: TrackerConfig, device: torch.device, gray: bool = False) -> None:
        self.config = config
        self.device = device
        self.color_weight = 0.0 if gray else config.correlation_color
        self._translation: _Filter | None = None
        self._scale: _Filter | None = None
        self._cache: tuple[np.ndarray, tuple[float, float, float, float], torch.Tensor,
                           Region] | None = None
        # Frame 1's box centre and translation features, until the next frame is learned:
        # its still cells are only known then (correlation_still_weight).
        self._first: tuple[tuple[float, float], torch.Tensor] | None = None

    def initialize(self, image: np.ndarray, box: Box) -> None:
        """Fix the filters' geometry from the first box and train them on it."""
        config = self.config
        cell = config.correlation_cell
        w, h = float(box[2]), float(box[3])
        pad = 1.0 + config.correlation_padding
        # Resampling factor at the first frame's size: the padded window's geometric mean
        # side becomes correlation_template px; later frames keep the grid and rescale.
        factor = config.correlation_template / math.sqrt(w * pad * h * pad)
        self.cells = (max(4, int(round(h * pad * factor / cell))),
                      max(4, int(round(w * pad * factor / cell))))
        target_cells = math.sqrt(self.cells[0] * self.cells[1]) / pad
        sigma = max(target_cells * config.correlation_sigma, 0.25)
        rows, cols = _hann(self.cells[0], self.device), _hann(self.cells[1], self.device)
        window = rows[:, None] * cols[None, :]
        self._translation = _Filter(_gaussian_label(self.cells, sigma, self.device), window,
                                    config.correlation_lambda, config.correlation_first_share)
        self._reach = _reach_mask(self.cells, config.correlation_max_shift / pad, self.device)
        count = config.correlation_scales
        half = (count - 1) / 2.0
        self.scale_exponents = torch.arange(count, device=self.device,
                                            dtype=torch.float32) - half
        self.scale_factors = config.correlation_scale_step ** self.scale_exponents
        model = math.sqrt(config.correlation_scale_area / (w * h))
        self.scale_cells = (max(2, int(round(h * model / cell))),
                            max(2, int(round(w * model / cell))))
        # DSST's rule: a deviation of a quarter step per sqrt(33) scales (1.44 steps at 33).
        scale_sigma = max(count / math.sqrt(33.0) * 0.25, 0.25)
        self._scale = _Filter(_gaussian_label((count,), scale_sigma, self.device),
                              _hann(count, self.device), config.correlation_lambda)
        # The target's in-plane angle (radians) both filters sample it at; the tracker
        # commits a refinement's angle when it takes the box (see `Refinement.angle`).
        self.angle = 0.0
        self._rotation: _Filter | None = None
        turns = config.correlation_rotations
        if turns:
            self.rotation_offsets = (torch.arange(turns, device=self.device, dtype=torch.float32)
                                     - (turns - 1) / 2.0)
            turn_sigma = max(turns / math.sqrt(33.0) * 0.25, 0.25)
            # The box itself (its background does not turn with it) at the translation
            # filter's cell size.
            self.rotation_cells = (max(2, int(round(self.cells[0] / pad))),
                                   max(2, int(round(self.cells[1] / pad))))
            self._rotation = _Filter(_gaussian_label((turns,), turn_sigma, self.device),
                                     _hann(turns, self.device), config.correlation_lambda)
        self._cache = None
        self.learn(image, box, 1.0)
        if config.correlation_still_weight < 1.0:
            centre = center_of([float(v) for v in box])
            maps, region = self._region_maps(image, *centre, w, h)
            self._first = (centre, self._window_features(maps, region, *centre, w, h))

    def start_frame(self) -> None:
        """Forget the cells computed on the last frame. Within a frame `refine` and `learn`
        share them; a caller may refill one image buffer for every frame, so the image's
        identity alone does not say the frame is the same."""
        self._cache = None

    def refine(self, image: np.ndarray, box: Box, size: tuple[float, float]) -> Refinement:
        """Move `box`'s centre to the translation filter's peak (when within
        correlation_max_shift of the box size and the peak reaches correlation_min_peak)
        and, with correlation_scale, set its size to `size` (w, h) times the scale filter's
        best factor (1 below correlation_min_peak); otherwise keep `box`'s size. The centre
        stays inside the image, like every particle's."""
        config = self.config
        x, y, w, h = (float(v) for v in box)
        cx, cy = x + w / 2.0, y + h / 2.0
        base_w, base_h = float(size[0]), float(size[1])
        maps, region = self._region_maps(image, cx, cy, base_w, base_h)
        cx, cy, shift, peak, accepted = self._settle(maps, region, cx, cy, base_w, base_h,
                                                     image.shape[:2])
        trusted = peak >= config.correlation_min_peak
        angle = self._turn(maps, region, cx, cy, base_w, base_h, trusted)
        factor = 1.0
        # With the scale filter the size is `size` times its factor (1 when not trusted).
        out_w, out_h = (base_w, base_h) if config.correlation_scale else (w, h)
        if config.correlation_scale and trusted:
            response = self._scale.respond(self._scale_features(maps, region, cx, cy, base_w,
                                                                base_h, angle))
            (exponent,), _ = subcell_peak(response)
            limit = float(self.scale_exponents[-1])
            exponent = max(-limit, min(limit, exponent)) * config.correlation_scale_rate
            factor = config.correlation_scale_step ** exponent
            largest = config.correlation_max_scale_change
            factor = min(max(factor, 1.0 / largest), largest)
            min_side = config.min_object_size
            out_w, out_h = max(base_w * factor, min_side), max(base_h * factor, min_side)
        return Refinement(box=(cx - out_w / 2.0, cy - out_h / 2.0, out_w, out_h),
                          shift=shift, scale_factor=factor, peak=peak,
                          shift_accepted=accepted, angle=angle)

    def _turn(self, maps: torch.Tensor, region: Region, cx: float, cy: float, w: float,
              h: float, trusted: bool) -> float:
        """The target's angle after the rotation filter's peak at (cx, cy) (the current
        angle without a rotation filter, or when the translation peak is not trusted)."""
        if self._rotation is None or not trusted:
            return self.angle
        response = self._rotation.respond(self._rotation_features(maps, region, cx, cy, w, h))
        (steps,), _ = subcell_peak(response)
        limit = float(self.rotation_offsets[-1])
        steps = max(-limit, min(limit, steps))
        return self.angle + math.radians(steps * self.config.correlation_rotation_step)

    def _settle(self, maps: torch.Tensor, region: Region, cx: float, cy: float, w: float,
                h: float, image_size: tuple[int, int]
                ) -> tuple[float, float, tuple[float, float], float, bool]:
        """The translation filter's move of the centre (cx, cy), as `_translate` returns it,
        with the filter evaluated again where the box moved to, up to
        correlation_refine_passes times, until a pass moves it less than half a cell.

        Why: the cosine window that tapers the filter's window weights the features near its
        centre most, so where the window is centred off the target (on the network's box,
        which Eq. 6's plateau leaves up to a third of the object off) the peak is pulled
        towards that centre and the box stops short of the target. A window centred on the
        box the last pass found sees the target untapered. The total move stays within
        correlation_max_shift of (cx, cy): with correlation_peak_in_reach every pass seeks its
        peak only where the box stays within that reach, so the peak, the last pass's, is
        how well the filters recognise the place the box went to. Whether the move was
        accepted is the first pass's decision: later passes only settle it.
        """
        config = self.config
        start_x, start_y = cx, cy
        cx, cy, shift, peak, accepted = self._translate(maps, region, cx, cy, w, h, image_size)
        pad = 1.0 + config.correlation_padding
        half_cell_x, half_cell_y = 0.5 * w * pad / self.cells[1], 0.5 * h * pad / self.cells[0]
        step = shift
        for _ in range(config.correlation_refine_passes - 1):
            if not accepted or (abs(step[0]) < half_cell_x and abs(step[1]) < half_cell_y):
                break
            moved = (cx - start_x, cy - start_y)
            next_x, next_y, step, next_peak, next_accepted = self._translate(
                maps, region, cx, cy, w, h, image_size, moved)
            if not next_accepted:
                break
            cx, cy, peak = next_x, next_y, next_peak
            shift = (cx - start_x, cy - start_y)
        return cx, cy, shift, peak, accepted

    def _translate(self, maps: torch.Tensor, region: Region, cx: float, cy: float,
                   w: float, h: float, image_size: tuple[int, int],
                   moved: tuple[float, float] = (0.0, 0.0)
                   ) -> tuple[float, float, tuple[float, float], float, bool]:
        """The translation filter's move of the centre (cx, cy) of a w x h box: the new
        centre, the shift it measured (px), its peak and whether the move was accepted.

        With correlation_peak_in_reach the peak is sought only among the shifts the box may
        make, so the peak reported is the filters' recognition of the place the box goes to;
        otherwise it is the whole window's maximum, which a box beyond reach does not follow.
        `moved` is how far earlier passes already moved the box this frame (px): the reach
        counts from where the box was before them.
        """
        config = self.config
        pad = 1.0 + config.correlation_padding
        reach_x, reach_y = config.correlation_max_shift * w, config.correlation_max_shift * h
        allowed = None
        if config.correlation_peak_in_reach:
            allowed = self._reach if moved == (0.0, 0.0) else _reach_mask(
                self.cells, config.correlation_max_shift / pad, self.device,
                (moved[1] * self.cells[0] / (h * pad), moved[0] * self.cells[1] / (w * pad)))
        features = self._window_features(maps, region, cx, cy, w, h)
        response, learned = self._translation.respond_both(features)
        (dy_cells, dx_cells), peak = subcell_peak(response, allowed)
        if learned is not response:
            # The first frame's share places the box; the peak the tracker's rules compare
            # with the usual one is the learned filter's there, as without the share.
            peak = float(learned.reshape(-1)[peak_index(response, allowed)])
        shift_x = dx_cells * w * pad / self.cells[1]
        shift_y = dy_cells * h * pad / self.cells[0]
        if allowed is not None:
            # The sub-cell fit may lean a fraction of a cell past the reach.
            shift_x = max(-reach_x - moved[0], min(reach_x - moved[0], shift_x))
            shift_y = max(-reach_y - moved[1], min(reach_y - moved[1], shift_y))
        accepted = (peak >= config.correlation_min_peak
                    and abs(moved[0] + shift_x) <= reach_x and abs(moved[1] + shift_y) <= reach_y)
        if accepted:
            height, width = image_size
            cx = min(max(cx + shift_x, 0.0), float(width))
            cy = min(max(cy + shift_y, 0.0), float(height))
        return cx, cy, (shift_x, shift_y), peak, accepted

    def learn(self, image: np.ndarray, box: Box, rate: float | None = None,
              previous: PreviousFrame | None = None) -> None:
        """Blend the appearance at `box` into both filters (rate: correlation_learning_rate).
        Reuses the maps `refine` computed for the same image when they cover the box.

        With `previous` (the frame before, tracked) and correlation_still_weight < 1, the
        translation filter learns the window's still cells at that weight (see
        `_still_weights`); when `previous` is the first frame and nothing was learned since,
        it first solves that frame again the same way, since one frame alone cannot tell the
        target from the background in its box.
        """
        rate = self.config.correlation_learning_rate if rate is None else rate
        x, y, w, h = (float(v) for v in box)
        cx, cy = x + w / 2.0, y + h / 2.0
        maps, region = self._region_maps(image, cx, cy, w, h)
        features = self._window_features(maps, region, cx, cy, w, h)
        if previous is not None and self.config.correlation_still_weight < 1.0:
            first, self._first = self._first, None
            if first is not None and previous.first:
                (first_x, first_y), first_features = first
                carried = (first_x + previous.camera_shift[0],
                           first_y + previous.camera_shift[1])
                weights = self._still_weights(first_features, image, (cx, cy), carried, w, h)
                if weights is not None:
                    self._translation.learn(first_features * weights, 1.0)
            carried = (cx - previous.camera_shift[0], cy - previous.camera_shift[1])
            weights = self._still_weights(features, previous.image, previous.centre, carried,
                                          w, h)
            if weights is not None:
                features = features * weights
        self._translation.learn(features, rate)
        if self.config.correlation_scale:
            self._scale.learn(self._scale_features(maps, region, cx, cy, w, h), rate)
        if self._rotation is not None:
            self._rotation.learn(self._rotation_features(maps, region, cx, cy, w, h), rate)

    def _still_weights(self, features: torch.Tensor, other: np.ndarray,
                       target_centre: tuple[float, float], scene_centre: tuple[float, float],
                       w: float, h: float) -> torch.Tensor | None:
        """Per-cell weights (cells_h, cells_w) of a window's `features`: correlation_still_weight
        where the cell stayed with the scene, 1 where it moved with the target; None where
        the two motions are too alike to tell apart.

        `other` is the neighbouring frame, `target_centre` the window's centre there under
        the target's motion and `scene_centre` under the scene's. A cell is still when the
        window at `scene_centre` matches it much better (correlation_still_ratio of the
        squared difference) than the window at `target_centre`. Why: a correlation filter
        learns its whole padded window, and background the target moves across (a still
        camera, or a target that leaves what it stood in front of, as the stage lamp in OTB
        MotorRolling's first box) matches itself best where it was, so it pulls the box back
        there. Uniform cells match both alike and keep their weight.
        """
        config = self.config
        pad = 1.0 + config.correlation_padding
        apart_x = (target_centre[0] - scene_centre[0]) * self.cells[1] / (w * pad)
        apart_y = (target_centre[1] - scene_centre[1]) * self.cells[0] / (h * pad)
        if max(abs(apart_x), abs(apart_y)) < config.correlation_still_min_shift:
            return None
        along_target = self._window_features(*self._region_maps(other, *target_centre, w, h,
                                                                 cache=False),
                                             *target_centre, w, h)
        along_scene = self._window_features(*self._region_maps(other, *scene_centre, w, h,
                                                                cache=False),
                                            *scene_centre, w, h)
        target_error = ((features - along_target) ** 2).sum(dim=0)
        scene_error = ((features - along_scene) ** 2).sum(dim=0)
        still = scene_error < config.correlation_still_ratio * target_error
        return torch.where(still, config.correlation_still_weight, 1.0)

    # ----------------------------------------------------------------------------------
    def _region_maps(self, image: np.ndarray, cx: float, cy: float, w: float, h: float,
                     cache: bool = True) -> tuple[torch.Tensor, Region]:
        """Orientation cells of the image around the padded window, at the filters' resolution
        (the returned region maps image pixels to cells). The region reaches far enough for
        the window after the largest accepted shift and for the largest box of the scale
        pyramid, so `learn` after `refine` on the same image reuses it when the box is within
        that shift of the cached centre (the cache holds the last image and its cells; maps
        made with `cache` false, of another frame, leave it alone)."""
        config = self.config
        cached = self._cache
        if cache and cached is not None and cached[0] is image:
            ccx, ccy, cw, ch = cached[1]
            reach = config.correlation_max_shift
            if (abs(cw / w - 1.0) < 0.2 and abs(cx - ccx) <= reach * cw
                    and abs(cy - ccy) <= reach * ch):
                return cached[2], cached[3]
        pad = 1.0 + config.correlation_padding
        largest = config.correlation_scale_step ** ((config.correlation_scales - 1) / 2.0)
        half = 0.5 * max(pad, largest) + config.correlation_max_shift + 0.1
        half_w, half_h = w * half, h * half
        if config.correlation_rotations:
            # A turned window reaches as far as its diagonal on both axes.
            diagonal = 0.5 * max(pad, largest) * math.hypot(w, h)
            margin = config.correlation_max_shift + 0.1
            half_w, half_h = diagonal + margin * w, diagonal + margin * h
        bounds = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        scale = (self.cells[1] * config.correlation_cell / (w * pad),
                 self.cells[0] * config.correlation_cell / (h * pad))
        pixels, pixel_region = extract_region(image, bounds, scale, self.device)
        cell = config.correlation_cell
        maps = orientation_cells(luminance(pixels), cell)
        if self.color_weight > 0 and pixels.shape[0] == 3:
            maps = torch.cat([maps, opponent_cells(pixels, cell, self.color_weight)])
        region = Region(pixel_region.x0, pixel_region.y0, pixel_region.scale_x / cell,
                        pixel_region.scale_y / cell, maps.shape[2], maps.shape[1])
        if cache:
            self._cache = (image, (cx, cy, w, h), maps, region)
        return maps, region

    def _window_features(self, maps: torch.Tensor, region: Region, cx: float, cy: float,
                         w: float, h: float) -> torch.Tensor:
        """(C, cells_h, cells_w) features of the padded window centred at (cx, cy), turned
        by the target's angle when there is a rotation filter."""
        pad = 1.0 + self.config.correlation_padding
        if self._rotation is not None:
            return normalise_cells(crop_turned(
                maps, region, self._tensor([[cx, cy]]), self._tensor([[w * pad, h * pad]]),
                self._tensor([self.angle]), self.cells))[0]
        box = torch.tensor([[cx - w * pad / 2.0, cy - h * pad / 2.0, w * pad, h * pad]],
                           dtype=torch.float32, device=self.device)
        return normalise_cells(crop_patches(maps, region, box, self.cells))[0]

    def _scale_features(self, maps: torch.Tensor, region: Region, cx: float, cy: float,
                        w: float, h: float, angle: float | None = None) -> torch.Tensor:
        """(D, scales) features: the box at every scale factor, sampled on the scale model's
        cell grid and flattened (turned by `angle`, the target's angle by default, when
        there is a rotation filter)."""
        factors = self.scale_factors
        widths, heights = w * factors, h * factors
        if self._rotation is not None:
            count = factors.shape[0]
            angles = torch.full((count,), self.angle if angle is None else angle,
                                device=self.device)
            centres = self._tensor([[cx, cy]]).expand(count, 2)
            cells = crop_turned(maps, region, centres, torch.stack([widths, heights], dim=1),
                                angles, self.scale_cells)
        else:
            boxes = torch.stack([cx - widths / 2.0, cy - heights / 2.0, widths, heights],
                                dim=1)
            cells = crop_patches(maps, region, boxes, self.scale_cells)
        return normalise_cells(cells).flatten(1).transpose(0, 1).contiguous()

    def _rotation_features(self, maps: torch.Tensor, region: Region, cx: float, cy: float,
                           w: float, h: float) -> torch.Tensor:
        """(D, angles) features: the box itself (not its padding, whose background does not
        turn with the target) turned by every angle around the target's, flattened. On the
        translation filter's cell size, not the scale model's coarser one: a few degrees
        move the target's cells by a fraction of a coarse cell."""
        offsets = self.rotation_offsets
        count = offsets.shape[0]
        angles = self.angle + offsets * math.radians(self.config.correlation_rotation_step)
        cells = crop_turned(maps, region, self._tensor([[cx, cy]]).expand(count, 2),
                            self._tensor([[w, h]]).expand(count, 2), angles,
                            self.rotation_cells)
        return normalise_cells(cells).flatten(1).transpose(0, 1).contiguous()

    def _tensor(self, values: list) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=self.device)
