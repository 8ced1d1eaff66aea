"""Scoring the particles of one frame: per particle (the paper) or densely over the region.

Both paths return the same `FrameScores`, and both can crop training patches of arbitrary
boxes from the cue maps they computed, so the learner never needs to know which path ran.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from deeptrack_ros.core.boxes import iou_torch
from deeptrack_ros.core.config import TrackerConfig
from deeptrack_ros.core.cues import (
    Region, compute_cues, crop_patches, extract_region, normalise_patches)
from deeptrack_ros.core.network import DeepTrackNet, deeptrack_score

_REGION_PAD = 2.0


@dataclass
class CueLevel:
    """Cue maps of the region at one working scale."""

    cues: torch.Tensor
    region: Region
    height: float  # object height (image px) this level was built for
    first: torch.Tensor | None = None  # dense path: stride-1 pooled first-layer map
    output: torch.Tensor | None = None  # dense path: fused output (2, H', W') of every window


@dataclass
class FrameScores:
    """Particles (possibly snapped to the dense lattice) with their network outputs."""

    boxes: torch.Tensor    # (N, 4) image-space (x, y, w, h)
    fused: torch.Tensor    # (N, 2)
    scores: torch.Tensor   # (N,) S of Eq. 1
    levels: list[CueLevel]
    level_of: torch.Tensor  # (N,) index into levels
    timings: dict[str, float] = field(default_factory=dict)
    rows: torch.Tensor | None = None  # dense path: (N,) window top-left in region pixels
    cols: torch.Tensor | None = None


@dataclass
class MapWindows:
    """Every window of one level's dense map: outputs, region pixels and image boxes."""

    number: int             # index into FrameScores.levels
    level: CueLevel
    fused: torch.Tensor     # (M, 2)
    rows: torch.Tensor      # (M,) window top-left in region pixels
    cols: torch.Tensor
    boxes: torch.Tensor     # (M, 4) image-space (x, y, w, h)


def region_bounds(boxes: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the window holding every box, with a small pad."""
    lo = boxes[:, :2].min(axis=0)
    hi = (boxes[:, :2] + boxes[:, 2:]).max(axis=0)
    return (float(lo[0]) - _REGION_PAD, float(lo[1]) - _REGION_PAD,
            float(hi[0]) + _REGION_PAD, float(hi[1]) + _REGION_PAD)


class FrameScorer:
    """Computes cues and scores for the particles of a frame with a given network."""

    def __init__(self, net: DeepTrackNet, config: TrackerConfig, gray: bool,
                 device: torch.device) -> None:
        self.net = net
        self.config = config
        self.gray = gray
        self.device = device

    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def build_level(self, image: np.ndarray, bounds: tuple[float, float, float, float],
                    scale: tuple[float, float], object_height_px: float,
                    height: float) -> CueLevel:
        pixels, region = extract_region(image, bounds, scale, self.device)
        cues = compute_cues(pixels, self.gray, object_height_px, self.config)
        return CueLevel(cues, region, height)

    @torch.no_grad()
    def score(self, image: np.ndarray, particles: np.ndarray, height: float,
              aspect: float) -> FrameScores:
        if self.config.scoring == 'dense':
            return self._score_dense(image, particles, height, aspect)
        return self._score_particles(image, particles, height)

    def _score_particles(self, image: np.ndarray, particles: np.ndarray,
                         height: float) -> FrameScores:
        """One crop and one network pass per particle (Sec. II-C)."""
        config = self.config
        t0 = time.perf_counter()
        scale = config.region_object_height / height
        level = self.build_level(image, region_bounds(particles), (scale, scale),
                                 config.region_object_height, height)
        boxes = torch.as_tensor(particles, dtype=torch.float32, device=self.device)
        self._sync()
        t1 = time.perf_counter()
        patches = normalise_patches(crop_patches(level.cues, level.region, boxes,
                                                 config.patch_size), config)
        self._sync()
        t2 = time.perf_counter()
        fused = self.net(patches).fused
        scores = deeptrack_score(fused)
        self._sync()
        t3 = time.perf_counter()
        level_of = torch.zeros(boxes.shape[0], dtype=torch.long, device=self.device)
        return FrameScores(boxes, fused, scores, [level], level_of,
                           {'cues': (t1 - t0) * 1e3, 'crop': (t2 - t1) * 1e3,
                            'score': (t3 - t2) * 1e3})

    def _score_dense(self, image: np.ndarray, particles: np.ndarray, height: float,
                     aspect: float) -> FrameScores:
        """The network once per scale level over the region; particles read their window.

        Each level resamples the region so a box of that level's size becomes exactly
        patch_size x patch_size; a particle takes the nearest level (in log scale) and the
        nearest window of the dense lattice (every dense_stride region pixels), and its box is
        snapped to that window so box and score always agree.
        """
        config = self.config
        size = config.patch_size
        t0 = time.perf_counter()
        offsets = np.linspace(-1.0, 1.0, config.scale_levels) if config.scale_levels > 1 \
            else np.zeros(1)
        level_heights = height * (1.0 + config.sigma_scale * config.scale_level_span * offsets)
        level_heights = np.maximum(level_heights, config.min_object_size)
        nearest = np.abs(np.log(particles[:, 3:4]) - np.log(level_heights)[None]).argmin(axis=1)
        bounds = region_bounds(particles)
        levels, boxes, fused = [], [], []
        order, rows, cols = [], [], []
        score_ms = 0.0
        for index, level_height in enumerate(level_heights):
            members = np.nonzero(nearest == index)[0]
            if members.size == 0:
                levels.append(None)
                continue
            level_width = level_height * aspect
            level = self.build_level(image, bounds, (size / level_width, size / level_height),
                                     float(size), float(level_height))
            levels.append(level)
            self._sync()
            ts = time.perf_counter()
            stride = config.dense_stride
            output, level.first = self.net.dense_forward_with_first(level.cues, stride)
            level.output = output
            self._sync()
            score_ms += (time.perf_counter() - ts) * 1e3
            region = level.region
            chosen = particles[members]
            u = np.rint((chosen[:, 0] - region.x0) * region.scale_x / stride).astype(np.int64)
            v = np.rint((chosen[:, 1] - region.y0) * region.scale_y / stride).astype(np.int64)
            u = np.clip(u, 0, output.shape[2] - 1)
            v = np.clip(v, 0, output.shape[1] - 1)
            snapped = np.stack([region.x0 + u * stride / region.scale_x,
                                region.y0 + v * stride / region.scale_y,
                                np.full(u.shape, size / region.scale_x),
                                np.full(u.shape, size / region.scale_y)], axis=1)
            boxes.append(snapped)
            fused.append(output[:, torch.from_numpy(v), torch.from_numpy(u)].T)
            rows.append(v * stride)
            cols.append(u * stride)
            order.append(members)
        order_np = np.concatenate(order)
        inverse = np.empty_like(order_np)
        inverse[order_np] = np.arange(order_np.size)
        inverse_t = torch.from_numpy(inverse).to(self.device)
        box_t = torch.as_tensor(np.concatenate(boxes)[inverse], dtype=torch.float32,
                                device=self.device)
        fused_t = torch.cat(fused)[inverse_t]
        scores = deeptrack_score(fused_t)
        self._sync()
        total = (time.perf_counter() - t0) * 1e3
        level_of = torch.as_tensor(nearest, device=self.device)
        rows_t = torch.as_tensor(np.concatenate(rows)[inverse], device=self.device)
        cols_t = torch.as_tensor(np.concatenate(cols)[inverse], device=self.device)
        return FrameScores(box_t, fused_t, scores, levels, level_of,
                           {'cues': total - score_ms, 'crop': 0.0, 'score': score_ms},
                           rows_t, cols_t)

    def with_best_window(self, frame: FrameScores,
                         weigh: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                         ) -> FrameScores:
        """The frame's particles plus the window of the whole dense map that maximises
        `weigh(boxes, scores)` (dense path).

        Dense scoring evaluates every window of the region, not only those particles landed
        on: the particles are a sample of the posterior, the map is all of it on the lattice.
        A narrow peak between particles, or in the cloud's sparse tail, is then never missed.
        The window joins the particles at the end, so index and box keep agreeing.
        """
        best = None
        for windows in self._map_windows(frame):
            weighted = weigh(windows.boxes, deeptrack_score(windows.fused))
            top = int(torch.argmax(weighted))
            if best is None or float(weighted[top]) > best[0]:
                best = (float(weighted[top]), windows, top)
        if best is None:
            return frame
        _, windows, top = best
        pick = slice(top, top + 1)
        fused = windows.fused[pick]
        return FrameScores(
            torch.cat([frame.boxes, windows.boxes[pick].to(frame.boxes.dtype)]),
            torch.cat([frame.fused, fused]), torch.cat([frame.scores, deeptrack_score(fused)]),
            frame.levels,
            torch.cat([frame.level_of, torch.tensor([windows.number],
                                                    device=frame.level_of.device)]),
            frame.timings, torch.cat([frame.rows, windows.rows[pick].to(frame.rows.dtype)]),
            torch.cat([frame.cols, windows.cols[pick].to(frame.cols.dtype)]))

    def hard_windows(self, frame: FrameScores, estimate: torch.Tensor, count: int,
                     max_iou: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The `count` best-scoring windows of the dense maps with IoU <= `max_iou` to the
        estimate (hard negatives; dense path): their image boxes, first-layer maps and fused
        outputs, all read from what scoring computed."""
        scores, boxes, maps, fused = [], [], [], []
        for windows in self._map_windows(frame):
            score = deeptrack_score(windows.fused)
            score = torch.where(iou_torch(windows.boxes, estimate) <= max_iou, score,
                                torch.full_like(score, -torch.inf))
            top = torch.topk(score, min(count, score.shape[0])).indices
            top = top[torch.isfinite(score[top])]
            scores.append(score[top])
            boxes.append(windows.boxes[top])
            maps.append(self.net.window_first_maps(windows.level.first, windows.rows[top],
                                                   windows.cols[top]))
            fused.append(windows.fused[top])
        if not scores:
            empty = torch.empty((0, 4), device=estimate.device)
            return empty, empty.new_empty((0,)), empty.new_empty((0, 2))
        all_scores = torch.cat(scores)
        keep = torch.topk(all_scores, min(count, all_scores.shape[0])).indices
        return torch.cat(boxes)[keep], torch.cat(maps)[keep], torch.cat(fused)[keep]

    def _map_windows(self, frame: FrameScores) -> list[MapWindows]:
        """Every window of every scored level's dense map (dense path)."""
        stride = self.config.dense_stride
        out = []
        for number, level in enumerate(frame.levels):
            if level is None or level.output is None:
                continue
            out_w = level.output.shape[2]
            fused = level.output.flatten(1).T
            index = torch.arange(fused.shape[0], device=fused.device)
            rows, cols = (index // out_w) * stride, (index % out_w) * stride
            out.append(MapWindows(number, level, fused, rows, cols, self._window_boxes(
                level.region, rows, cols, self.config.patch_size)))
        return out

    @staticmethod
    def _window_boxes(region: Region, rows: torch.Tensor, cols: torch.Tensor,
                      size: int) -> torch.Tensor:
        """Image boxes (x, y, w, h) of patch-sized windows at region pixels (row, col)."""
        rows = rows.to(torch.float32)
        cols = cols.to(torch.float32)
        return torch.stack([region.x0 + cols / region.scale_x, region.y0 + rows / region.scale_y,
                            torch.full_like(cols, size / region.scale_x),
                            torch.full_like(cols, size / region.scale_y)], dim=1)

    def window_first_maps(self, frame: FrameScores, index: torch.Tensor) -> torch.Tensor:
        """First-layer maps of the scored windows `index` (dense path), read from the maps
        scoring computed: training samples cost no extra network pass."""
        out = None
        for number, level in enumerate(frame.levels):
            if level is None:
                continue
            members = frame.level_of[index] == number
            if not bool(members.any()):
                continue
            chosen = index[members]
            maps = self.net.window_first_maps(level.first, frame.rows[chosen],
                                              frame.cols[chosen])
            if out is None:
                out = maps.new_empty((index.shape[0], *maps.shape[1:]))
            out[members] = maps
        assert out is not None
        return out

    def uniform_windows(self, frame: FrameScores, count: int, rng: np.random.Generator
                        ) -> tuple[np.ndarray, torch.Tensor]:
        """`count` windows drawn uniformly over the scored region at the middle scale level
        (dense path): background anywhere the next frames will search, whose first-layer
        maps scoring has already computed. Returns their image boxes and maps."""
        number = len(frame.levels) // 2
        level = frame.levels[number]
        if level is None:
            number = next(i for i, lv in enumerate(frame.levels) if lv is not None)
            level = frame.levels[number]
        size = self.config.patch_size
        region = level.region
        max_row = level.cues.shape[1] - size
        max_col = level.cues.shape[2] - size
        rows = rng.integers(0, max_row + 1, count)
        cols = rng.integers(0, max_col + 1, count)
        boxes = np.stack([region.x0 + cols / region.scale_x, region.y0 + rows / region.scale_y,
                          np.full(count, size / region.scale_x),
                          np.full(count, size / region.scale_y)], axis=1)
        maps = self.net.window_first_maps(level.first, torch.as_tensor(rows, device=self.device),
                                          torch.as_tensor(cols, device=self.device))
        return boxes, maps

    @torch.no_grad()
    def crop_around(self, image: np.ndarray, boxes: np.ndarray,
                    reference: tuple[float, float, float, float]) -> torch.Tensor:
        """Training patches of boxes outside the scored region, from a level of their own.

        The level uses the same working scale as scoring (the reference box becomes one
        patch in the dense path), so these patches look like scored ones.
        """
        config = self.config
        if config.scoring == 'dense':
            scale = (config.patch_size / reference[2], config.patch_size / reference[3])
            object_px = float(config.patch_size)
        else:
            scale = (config.region_object_height / reference[3],) * 2
            object_px = config.region_object_height
        level = self.build_level(image, region_bounds(boxes), scale, object_px, reference[3])
        tensor = torch.as_tensor(boxes, dtype=torch.float32, device=self.device)
        return normalise_patches(crop_patches(level.cues, level.region, tensor,
                                              config.patch_size), config)

    @torch.no_grad()
    def crop(self, frame: FrameScores, boxes: torch.Tensor,
             level_of: torch.Tensor | None = None) -> torch.Tensor:
        """Training patches of the given boxes, each cropped from its level's cue maps."""
        config = self.config
        if level_of is None:
            heights = np.array([lv.height if lv is not None else np.inf for lv in frame.levels])
            box_h = boxes[:, 3].cpu().numpy()
            level_of_np = np.abs(np.log(box_h)[:, None] - np.log(heights)[None]).argmin(axis=1)
            level_of = torch.as_tensor(level_of_np, device=boxes.device)
        out = torch.empty((boxes.shape[0], 3, config.patch_size, config.patch_size),
                          device=boxes.device)
        for index, level in enumerate(frame.levels):
            if level is None:
                continue
            members = level_of == index
            if bool(members.any()):
                out[members] = crop_patches(level.cues, level.region, boxes[members],
                                            config.patch_size)
        return normalise_patches(out, config)
