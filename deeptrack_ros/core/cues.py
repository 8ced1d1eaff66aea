"""Input cues of DeepTrack (Sec. II-B, II-C), computed once per frame on a region.

Colour input gives the H and V channels of HSV plus the gradient magnitude; gray input gives
two local-contrast-normalised (LCN) images with radii 0.1 h and 0.15 h plus the gradient
magnitude. Cues are computed on a region around the target that is resampled so the object is
`region_object_height` pixels tall: the LCN radii then become constants in region pixels and the
cost per frame no longer depends on how large the target is in the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deeptrack_ros.core.config import TrackerConfig

_EPS = 1e-6


@dataclass(frozen=True)
class Region:
    """A resampled window of the image: region pixel = (image pixel - origin) * scale."""

    x0: float
    y0: float
    scale_x: float
    scale_y: float
    width: int
    height: int


def is_gray(image: np.ndarray, tolerance: float) -> bool:
    """Decide gray input by content: a colour image whose channels are (nearly) equal.

    JPEG stores gray sequences as three identical channels (e.g. OTB Dog1) with at most tiny
    rounding differences, so an exact equality test would miss them.
    """
    if image.ndim == 2:
        return True
    step = max(1, int(math.sqrt(image.shape[0] * image.shape[1] / 40000)))
    sample = image[::step, ::step].astype(np.int16)
    diff = np.abs(sample[..., 0] - sample[..., 1]) + np.abs(sample[..., 1] - sample[..., 2])
    return float(diff.mean()) / 2.0 <= tolerance


def extract_region(image: np.ndarray, bounds: tuple[float, float, float, float],
                   scale: tuple[float, float], device: torch.device
                   ) -> tuple[torch.Tensor, Region]:
    """Crop bounds (x0, y0, x1, y1) from the image, pad by edge replication, and resample.

    Returns a (C, h, w) float tensor in [0, 1] and the mapping from image to region pixels.
    Only the window is copied to the device, never the whole frame.
    """
    height, width = image.shape[:2]
    x0, y0 = int(math.floor(bounds[0])), int(math.floor(bounds[1]))
    x1, y1 = int(math.ceil(bounds[2])), int(math.ceil(bounds[3]))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    cx0, cy0 = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
    cx1, cy1 = max(min(x1, width), cx0 + 1), max(min(y1, height), cy0 + 1)
    window = image[cy0:cy1, cx0:cx1]
    if window.ndim == 2:
        window = window[..., None]
    pad = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1), (0, 0))
    if any(p for pair in pad for p in pair):
        window = np.pad(window, pad, mode='edge')
    tensor = torch.from_numpy(np.ascontiguousarray(window)).to(device)
    tensor = tensor.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    out_w = max(8, int(round((x1 - x0) * scale[0])))
    out_h = max(8, int(round((y1 - y0) * scale[1])))
    antialias = out_h < (y1 - y0) or out_w < (x1 - x0)
    resized = F.interpolate(tensor, size=(out_h, out_w), mode='bilinear', align_corners=False,
                            antialias=antialias)
    region = Region(float(x0), float(y0), out_w / (x1 - x0), out_h / (y1 - y0), out_w, out_h)
    return resized[0], region


def _gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    xs = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (xs / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (C, H, W) maps with reflected borders."""
    kernel = _gaussian_kernel(sigma, maps.device)
    radius = kernel.numel() // 2
    channels = maps.shape[0]
    x = maps.unsqueeze(0)
    pad_w = min(radius, x.shape[-1] - 1)
    pad_h = min(radius, x.shape[-2] - 1)
    x = F.pad(x, (pad_w, pad_w, 0, 0), mode='reflect')
    if pad_w < radius:
        x = F.pad(x, (radius - pad_w, radius - pad_w, 0, 0), mode='replicate')
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    x = F.pad(x, (0, 0, pad_h, pad_h), mode='reflect')
    if pad_h < radius:
        x = F.pad(x, (0, 0, radius - pad_h, radius - pad_h), mode='replicate')
    x = F.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    return x[0]


def local_contrast_normalise(gray: torch.Tensor, radius: float) -> torch.Tensor:
    """LCN(I) = (I - G_r * I) / sqrt(G_r * (I - G_r * I)^2), with Gaussian windows of radius r.

    The denominator is floored at its mean so flat areas are not blown up into noise (the
    usual guard of Jarrett et al.'s normalisation, which the paper cites).
    """
    centred = gray - gaussian_blur(gray, radius)
    spread = gaussian_blur(centred * centred, radius).clamp(min=0).sqrt()
    floor = spread.mean().clamp(min=_EPS)
    return centred / torch.maximum(spread, floor)


def central_differences(gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical central differences of a (1, H, W) map, replicated borders."""
    padded = F.pad(gray.unsqueeze(0), (1, 1, 1, 1), mode='replicate')[0]
    gx = (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]) * 0.5
    gy = (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]) * 0.5
    return gx, gy


def gradient_magnitude(gray: torch.Tensor) -> torch.Tensor:
    """Central-difference gradient magnitude of a (1, H, W) map, replicated borders."""
    gx, gy = central_differences(gray)
    return torch.sqrt(gx * gx + gy * gy)


def hue_value(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """H (in [0, 1)) and V of HSV for (3, H, W) RGB in [0, 1]."""
    r, g, b = rgb[0], rgb[1], rgb[2]
    value, argmax = rgb.max(dim=0)
    chroma = value - rgb.min(dim=0).values
    safe = chroma.clamp(min=_EPS)
    hue_r = torch.remainder((g - b) / safe, 6.0)
    hue_g = (b - r) / safe + 2.0
    hue_b = (r - g) / safe + 4.0
    hue = torch.where(argmax == 0, hue_r, torch.where(argmax == 1, hue_g, hue_b)) / 6.0
    hue = torch.where(chroma > _EPS, hue, torch.zeros_like(hue))
    return hue.unsqueeze(0), value.unsqueeze(0)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of (C, H, W) RGB (or the single channel of gray input)."""
    if rgb.shape[0] == 1:
        return rgb
    weights = torch.tensor([0.299, 0.587, 0.114], device=rgb.device).view(3, 1, 1)
    return (rgb * weights).sum(dim=0, keepdim=True)


def compute_cues(region_pixels: torch.Tensor, gray_input: bool, object_height: float,
                 config: TrackerConfig) -> torch.Tensor:
    """The three cue maps (3, H, W) of a resampled region.

    In 'fixed' normalisation each cue is mapped to [0, cue_range] from its natural range here
    (H and V lie in [0, 1]; LCN is clipped to +-3; the gradient is clipped at 0.25 / px). In
    'patch' normalisation the raw maps are returned and every cropped patch is min-max
    normalised instead (see `normalise_patches`). `object_height` is the target's height in
    region pixels, which sets the LCN radii.
    """
    gray = luminance(region_pixels)
    gradient = gradient_magnitude(gray)
    if gray_input:
        first = local_contrast_normalise(gray, config.lcn_radii[0] * object_height)
        second = local_contrast_normalise(gray, config.lcn_radii[1] * object_height)
        if config.cue_normalisation == 'fixed':
            first = (first.clamp(-3.0, 3.0) + 3.0) / 6.0
            second = (second.clamp(-3.0, 3.0) + 3.0) / 6.0
    else:
        first, second = hue_value(region_pixels)
    if config.cue_normalisation == 'fixed':
        gradient = (gradient / 0.25).clamp(max=1.0)
        return torch.cat([first, second, gradient], dim=0) * config.cue_range
    return torch.cat([first, second, gradient], dim=0)


def normalise_patches(patches: torch.Tensor, config: TrackerConfig) -> torch.Tensor:
    """Scale every cue of every (N, 3, P, P) patch to [0, cue_range] when so configured."""
    if config.cue_normalisation != 'patch':
        return patches
    flat = patches.flatten(2)
    low = flat.min(dim=2, keepdim=True).values
    high = flat.max(dim=2, keepdim=True).values
    scaled = (flat - low) / (high - low).clamp(min=1e-3) * config.cue_range
    return scaled.view_as(patches)


def crop_patches(cues: torch.Tensor, region: Region, boxes: torch.Tensor,
                 patch_size: int | tuple[int, int]) -> torch.Tensor:
    """Crop and resize every (x, y, w, h) image box from the cue maps in one grid_sample.

    `patch_size` is a side (square patches, the network's) or (height, width). Returns
    (N, C, height, width). Boxes reaching outside the region read replicated border values.
    """
    out_h, out_w = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
    count = boxes.shape[0]
    device = cues.device
    steps_x = (torch.arange(out_w, device=device, dtype=torch.float32) + 0.5) / out_w
    steps_y = (torch.arange(out_h, device=device, dtype=torch.float32) + 0.5) / out_h
    rx = (boxes[:, 0:1] - region.x0) * region.scale_x
    ry = (boxes[:, 1:2] - region.y0) * region.scale_y
    rw = boxes[:, 2:3] * region.scale_x
    rh = boxes[:, 3:4] * region.scale_y
    gx = (rx + steps_x.unsqueeze(0) * rw) * (2.0 / region.width) - 1.0
    gy = (ry + steps_y.unsqueeze(0) * rh) * (2.0 / region.height) - 1.0
    grid = torch.stack(
        [gx.unsqueeze(1).expand(count, out_h, out_w),
         gy.unsqueeze(2).expand(count, out_h, out_w)], dim=-1)
    return sample_windows(cues, grid).contiguous()


def sample_windows(maps: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (N, C, h, w) of (C, H, W) maps at a (N, h, w, 2) grid of normalised
    (x, y) positions (grid_sample's convention, align_corners False), replicating the border.

    Every window is sampled in one grid_sample call: the N grids are stacked as one tall
    image, since a batch of N would need N copies of the maps.
    """
    count, out_h, out_w = grid.shape[:3]
    sampled = F.grid_sample(maps.unsqueeze(0), grid.reshape(1, count * out_h, out_w, 2),
                            mode='bilinear', padding_mode='border', align_corners=False)
    return sampled.view(maps.shape[0], count, out_h, out_w).permute(1, 0, 2, 3)
