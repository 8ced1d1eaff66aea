"""DeepTracker: the online CNN tracker of Li, Li and Porikli (IEEE TIP 2016).

Composes the cue extractor, the network, the particle motion model, the sample pools, the
quality estimate and the online learner. No I/O and no global state: device and seed come in
through the constructor, so the same frames and seed give the same boxes on the CPU.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
import warnings
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch

from deeptrack_ros.core.augment import blurred_copies, rotated_copies
from deeptrack_ros.core.boxes import center_of, iou_torch, iou_xywh, validate_box
from deeptrack_ros.core.config import DEFAULT_MODE, TrackerConfig, preset
from deeptrack_ros.core.camera_motion import CameraMotion
from deeptrack_ros.core.correlation import CorrelationRefiner, PreviousFrame
from deeptrack_ros.core.cues import is_gray
from deeptrack_ros.core.learner import OnlineLearner, SampleSet, UpdateOutcome
from deeptrack_ros.core.loss import labels_and_importance, sample_importance, structural_loss
from deeptrack_ros.core.memory import SamplePool
from deeptrack_ros.core.network import NUM_CUES, DeepTrackNet, deeptrack_score
from deeptrack_ros.core.quality import tracking_quality
from deeptrack_ros.core.result import Box, StageTimings, TrackResult
from deeptrack_ros.core.sampling import (TargetState, draw_particles, motion_prior_scores,
                                         position_sigma, scaled_boxes)
from deeptrack_ros.core.scoring import FrameScorer, FrameScores


def resolve_device(requested: str) -> tuple[torch.device, str | None]:
    """Map 'auto' | 'cpu' | 'cuda[:n]' to a device; CUDA without a GPU falls back to the CPU.

    Returns the device and, when the request could not be honoured, a warning text.
    """
    if requested == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu'), None
    if requested == 'cpu':
        return torch.device('cpu'), None
    if requested.startswith('cuda'):
        if torch.cuda.is_available():
            return torch.device(requested), None
        return torch.device('cpu'), f'device {requested!r} requested but CUDA is unavailable; '\
            'running on the CPU'
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {requested!r}")


def validate_image(image: np.ndarray) -> np.ndarray:
    """Accept HxWx3 uint8 RGB or HxW uint8 gray; anything else is a ValueError saying why."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f'image must be a numpy array, got {type(image).__name__}')
    if image.dtype != np.uint8:
        raise ValueError(f'image must be uint8, got dtype {image.dtype}')
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f'image must be HxWx3 (RGB) or HxW (gray), got shape {image.shape}')
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f'image must be at least 2x2 pixels, got shape {image.shape}')
    return image


class DeepTracker:
    """Single-target tracker: `initialize(image, box)` once, then `track(image)` per frame."""

    def __init__(self, config: TrackerConfig | None = None, device: str = 'auto',
                 seed: int | None = None) -> None:
        self.config = config if config is not None else preset(DEFAULT_MODE)
        self.device, self.device_warning = resolve_device(device)
        if self.device_warning:
            warnings.warn(self.device_warning, RuntimeWarning, stacklevel=2)
        self.seed = seed if seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        self._initialized = False
        self._frame = -1
        self._image_shape: tuple[int, ...] = ()

    @property
    def initialized(self) -> bool:
        return self._initialized

    def pool_sizes(self) -> dict[str, tuple[int, int]]:
        """(size, capacity) of the positive and negative sample pools (empty before
        `initialize`): bounded by the configuration, which a long-running node reports."""
        if not self._initialized:
            return {}
        return {'positive': (self.positives.size, self.positives.capacity),
                'negative': (self.negatives.size, self.negatives.capacity)}

    @property
    def frame_index(self) -> int:
        """Index of the last processed frame (0 = the initialisation frame)."""
        return self._frame

    def initialize(self, image: np.ndarray, box: Sequence[float]) -> TrackResult:
        """Start tracking the object in `box` (0-based x, y, w, h) of `image`.

        Builds a fresh network from the seed and trains it on the first frame's samples until
        the loss is below epsilon (bounded by first_frame_iterations). Calling it again
        re-initialises from scratch.
        """
        image = validate_image(image)
        box = validate_box(box, image.shape)
        config = self.config
        started = time.perf_counter()
        self.rng = np.random.default_rng(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        self.net = DeepTrackNet(config)
        self.net.reset_parameters_with(generator)
        self.net.to(self.device)
        self.learner = OnlineLearner(self.net, config, self.rng)
        patch_shape = (NUM_CUES, config.patch_size, config.patch_size)
        flips = 2 if config.flip_positives else 1
        self.positives = SamplePool(config.positive_pool_size * flips, patch_shape, self.device)
        self.negatives = SamplePool(config.negative_pool_size, patch_shape, self.device)
        self.gray = is_gray(image, config.gray_tolerance)
        self._image_shape = image.shape
        self._frame = 0
        self.state = TargetState.from_box(box)
        self._tracked_confidences: deque[float] = deque(maxlen=config.reliability_memory)
        self._frames_lost = 0
        self._frames_followed = 0
        self._previous_image = self._kept_copy(image)
        # Whether the network has scored the target at lost_score on a frame after the first.
        self._recognised = False
        self._velocity = (0.0, 0.0)
        # Displacements of the last tracked frames (px): the speed the search adapts to.
        self._speeds: deque[float] = deque(maxlen=config.search_speed_frames)
        # The filters' peaks on learned frames: what a recognised target looks like to them.
        self._learned_peaks: deque[float] = deque(maxlen=config.reliability_memory)

        self.camera: CameraMotion | None = None
        if config.camera_motion_side > 0:
            self.camera = CameraMotion(config.camera_motion_side, config.camera_motion_min_peak,
                                       config.camera_motion_still_ratio, self.device)
            self.camera.reset(image)
        self.scorer = FrameScorer(self.net, config, self.gray, self.device)
        self.refiner: CorrelationRefiner | None = None
        # Rotated copies draw from the generator before the negatives (none by default).
        rotated = self._rotated_images(image, box)
        if config.correlation_refine:
            self.refiner = CorrelationRefiner(config, self.device, self.gray)
            self.refiner.initialize(image, box)
        if config.negative_selection == 'background':
            negatives = self._background_boxes(box, config.negatives_per_frame, image.shape[:2],
                                               config.first_frame_negative_spread)
        else:
            negatives = draw_particles(self.state, config.negatives_per_frame, config,
                                       self.rng, image.shape[:2],
                                       config.first_frame_negative_spread)
        boxes_np = np.vstack([np.asarray(box)[None], negatives, self._scale_boxes(box)])
        boxes = torch.as_tensor(boxes_np, dtype=torch.float32, device=self.device)
        # Frame-1 samples at the same working scale as the later frames' scored windows.
        patches = self.scorer.crop_around(image, boxes_np, box)
        extra = self._blurred_images(image, box) + rotated
        positives = self._with_flip(torch.cat([patches[:1],
                                               self._first_box_patches(extra, box)]))
        cue_done = time.perf_counter()
        current = self._store_samples(positives, patches[1:], boxes[1:], boxes[0], 1.0)
        outcome = self.learner.lazy_update(self.learner.frame_loss(current), self.positives,
                                           self.negatives, 0, config.first_frame_iterations,
                                           force=True, lr_fusion=config.first_frame_lr_fusion,
                                           epsilon=config.first_frame_epsilon or None)
        if not config.online_first_layer:
            # The first layer stays as frame 1 trained it: pools keep its output from now on.
            self.net.conv1.requires_grad_(False)
            with torch.no_grad():
                self.positives = self.positives.mapped(self.net.first_layer, 'first')
                self.negatives = self.negatives.mapped(self.net.first_layer, 'first')
        if config.anchor_positives > 0:
            # The first box and its mirror (after any blurred copies), in the pools' current
            # stage.
            slots = np.arange(flips) * (positives.shape[0] // flips)
            self.learner.set_anchor(SampleSet(*self.positives.gather(slots)))
        with torch.no_grad():
            fused = self.net(patches[:1]).fused
            score = float(deeptrack_score(fused)[0])
        self._sync()
        train_ms = (time.perf_counter() - cue_done) * 1e3
        self._initialized = True
        return TrackResult(
            frame_index=0, box=box, score=score, confidence=_confidence(score), quality=1.0,
            updated=outcome.updated, iterations=outcome.iterations, loss=outcome.loss_after,
            lost=False,
            timings=StageTimings(cues=(cue_done - started) * 1e3, train=train_ms))

    def track(self, image: np.ndarray,
              on_estimate: Callable[[TrackResult], None] | None = None) -> TrackResult:
        """Estimate the target in the next frame, then learn from it (lazily).

        `on_estimate`, when given, is called with the frame's result as soon as the box is
        known and before the online update runs (`updated` False, no train time yet): a
        robot can act on the box one update earlier. The returned result has the same box,
        score, confidence and quality, plus what the update did.
        """
        if not self._initialized:
            raise RuntimeError('track() called before initialize()')
        image = validate_image(image)
        if image.shape[:2] != self._image_shape[:2]:
            raise ValueError(
                f'image size changed from {self._image_shape[1]}x{self._image_shape[0]} to '
                f'{image.shape[1]}x{image.shape[0]}; re-initialise the tracker')
        config = self.config
        self._frame += 1
        frame = self._frame
        started = time.perf_counter()
        if self.refiner is not None:
            self.refiner.start_frame()
        shift = self._scene_shift(image)
        # The frame before, if the target was tracked in it, for the filters' still cells.
        previous = None
        if self._previous_image is not None and self._frames_lost == 0:
            previous = PreviousFrame(self._previous_image, (self.state.cx, self.state.cy),
                                     shift, first=frame == 1)
        self._previous_image = self._kept_copy(image)
        hypotheses = self._motion_hypotheses(shift, image.shape[:2])
        camera_ms = (time.perf_counter() - started) * 1e3
        searches = [self._predicted_state(state, image.shape[:2]) for state, _ in hypotheses]
        # One factor for the frame: the particles and the motion prior share it.
        spread = self._search_spread()
        particles_np = np.vstack([
            draw_particles(search, count, config, self.rng, image.shape[:2], spread)
            for search, (_, count) in zip(searches, hypotheses)])
        frame_scores = self.scorer.score(image, particles_np, self.state.height,
                                         self.state.aspect)
        t1 = time.perf_counter()
        if config.map_estimate and config.scoring == 'dense':
            frame_scores = self.scorer.with_best_window(
                frame_scores, lambda boxes, scores: self._with_motion_prior(
                    boxes, scores, searches, spread))
        particles, scores, fused = frame_scores.boxes, frame_scores.scores, frame_scores.fused
        with torch.no_grad():
            best = int(torch.argmax(self._with_motion_prior(particles, scores, searches,
                                                            spread)))
            best_score = float(scores[best])
            estimate_box = self._estimate(particles, scores, best)
            estimate = torch.as_tensor(estimate_box, dtype=torch.float32, device=self.device)
            quality = tracking_quality(scores, fused, particles, estimate, best_score, config)
            if config.scale_search > 0 and not (self.refiner and config.correlation_scale):
                estimate_box, best_score = self._refine_scale(frame_scores, estimate_box,
                                                              best_score)
                estimate = torch.as_tensor(estimate_box, dtype=torch.float32,
                                           device=self.device)
        refined: _Refined | None = None
        network_box = estimate_box
        # Where the target was, under the motion hypothesis that explains the estimate best.
        anchor = _nearest_state([state for state, _ in hypotheses], estimate_box)
        if self.refiner is not None:
            others = ([state for state, _ in hypotheses if state is not anchor]
                      if config.correlation_jump_every_hypothesis else [])
            refined = self._refine(image, frame_scores, estimate_box, best_score, anchor,
                                   others)
            estimate_box, best_score = refined.box, refined.score
            estimate = torch.as_tensor(estimate_box, dtype=torch.float32, device=self.device)
        # The frame's negatives are picked around the box it learns, after the filters moved it.
        pick = self._negative_pick(particles, estimate)
        pick_t = torch.from_numpy(pick).to(self.device)
        confidence = _confidence(best_score)
        reliability = self._reliability(confidence)
        doubted = refined is not None and refined.doubted
        network_lost = confidence < config.lost_score or reliability < config.lost_reliability
        if confidence >= config.lost_score:
            self._recognised = True
        elif config.lost_needs_recognition and not self._recognised:
            # Not lost yet: the network, trained on frame 1 alone, has not generalised to the
            # target (see the config field).
            network_lost = False
        # The filters may vouch for a box the network is unsure of, never for a doubted jump.
        followed = (network_lost and not doubted and refined is not None
                    and self._filters_follow(refined.peak))
        lost = doubted or (network_lost and not followed)
        if refined is not None and not lost:
            # The box is taken: so is the angle the filters measured it at.
            self.refiner.angle = refined.angle
        if config.quality_uses_reliability:
            quality *= min(1.0, reliability)
        # Where the filters recognise the target as well as usual, they vouch for the frame
        # and both models learn it, however unsure the network is (co-training).
        taught = (not lost and refined is not None
                  and self._peak_reaches(refined.peak, config.correlation_teach_peak)
                  and _agree(network_box, refined.box, config.correlation_teach_shift))
        # Where the filters barely recognise the target (an occluder, most often), neither
        # model learns the frame, however sure the network is of it.
        refused = refined is not None and self._learning_refused(refined.peak)
        learned = not lost and not refused and (
            taught or (not followed and reliability >= config.update_min_reliability))
        # The frame's result as far as it is known before the update; the update only adds
        # what it did and its time (below), so the box goes out once, however early.
        estimated = TrackResult(
            frame_index=frame, box=estimate_box, score=best_score, confidence=confidence,
            quality=quality, updated=False, iterations=0, loss=0.0, lost=lost,
            reliability=reliability, learned=learned,
            timings=StageTimings(cues=frame_scores.timings['cues'] + camera_ms,
                                 crop=frame_scores.timings['crop'],
                                 score=frame_scores.timings['score']),
            particles=particles.cpu().numpy(), particle_scores=scores.cpu().numpy())
        if on_estimate is not None:
            self._sync()
            on_estimate(dataclasses.replace(estimated, timings=dataclasses.replace(
                estimated.timings,
                crop=estimated.timings.crop + (time.perf_counter() - t1) * 1e3)))
        if not lost and not followed:
            # Every tracked frame, learned or not, moves the reference: a target whose score
            # settles lower (after frame 1's overfit, or a lasting appearance change) is
            # learned again after a few frames instead of never; lost frames do not, so an
            # occluder can never become the reference, and neither do frames only the
            # filters recognised.
            self._tracked_confidences.append(confidence)
        if not learned:
            # Probably not the target: learn nothing from this frame (see the config field).
            self._sync()
            t3 = time.perf_counter()
            outcome = UpdateOutcome(0, 0.0, 0.0)
        else:
            t3, outcome = self._learn(image, frame_scores, estimate, best, pick, pick_t,
                                      quality)
            if refined is not None:
                self.refiner.learn(image, estimate_box, previous=previous)
                self._learned_peaks.append(refined.peak)
        self._sync()
        t4 = time.perf_counter()
        # Frames in a row the network did not recognise and only the filters followed.
        self._frames_followed = self._frames_followed + 1 if followed else 0
        if lost:
            # A lost frame's estimate is probably background: keep searching where the
            # target was last seen (occlusions end there), ever wider, instead of following it.
            self._frames_lost += 1
            self._velocity = (0.0, 0.0)
        else:
            self._frames_lost = 0
            self.state = TargetState.from_box(estimate_box, self.state.aspect)
            self._velocity = (self.state.cx - anchor.cx, self.state.cy - anchor.cy)
            self._speeds.append(math.hypot(*self._velocity))
        return dataclasses.replace(
            estimated, updated=outcome.updated, iterations=outcome.iterations,
            loss=outcome.loss_after,
            timings=dataclasses.replace(estimated.timings,
                                        crop=estimated.timings.crop + (t3 - t1) * 1e3,
                                        train=(t4 - t3) * 1e3))

    # ----------------------------------------------------------------------------------
    def _learn(self, image: np.ndarray, frame_scores: FrameScores, estimate: torch.Tensor,
               best: int, pick: np.ndarray, pick_t: torch.Tensor,
               quality: float) -> tuple[float, UpdateOutcome]:
        """Store this frame's samples and run the lazy update; returns when sampling ended
        (for the stage timings) and what the update did."""
        config = self.config
        frame = self._frame
        fused = frame_scores.fused
        if self.positives.stage == 'first' and config.scoring == 'dense':
            positives, negatives, negative_boxes, scored = self._first_layer_samples(
                image, frame_scores, estimate, pick_t)
        else:
            positives, negatives, negative_boxes = self._patch_samples(
                image, frame_scores, estimate, best, pick_t)
            scored = fused[pick_t]
        self._sync()
        t3 = time.perf_counter()
        current = self._store_samples(positives, negatives, negative_boxes, estimate, quality)
        # L1 of the lazy update from the outputs scoring already produced (estimate + the
        # scored negatives), so frames that need no training cost no extra network pass.
        # The stored samples are [positive, (flip,) scored negatives (particles, then hard
        # ones), wide negatives, ...]: the estimate stands for the positive.
        current_outputs = torch.cat([fused[best:best + 1], scored])
        count = positives.shape[0]
        end = count + scored.shape[0]
        labels = torch.cat([current.labels[:1], current.labels[count:end]])
        importance = torch.cat([current.importance[:1], current.importance[count:end]])
        current_loss = float(structural_loss(current_outputs, labels, importance, config))
        outcome = self.learner.lazy_update(current_loss, self.positives, self.negatives,
                                           frame, config.max_update_iterations)
        return t3, outcome

    def _with_flip(self, positive: torch.Tensor) -> torch.Tensor:
        """The positive patches and, with flip_positives, their horizontal mirrors (the
        originals first, so frame 1's own box stays at slot 0 and its mirror at slot n)."""
        if self.config.flip_positives:
            return torch.cat([positive, positive.flip(-1)])
        return positive

    def _blurred_images(self, image: np.ndarray, box: Box) -> list[np.ndarray]:
        """Motion-blurred copies of the first image (none unless first_frame_blur_positives
        > 0; see the config)."""
        config = self.config
        if config.first_frame_blur_positives <= 0 or config.first_frame_blur_length <= 0:
            return []
        return blurred_copies(image, box, config.first_frame_blur_positives,
                              config.first_frame_blur_length, self.rng)

    def _rotated_images(self, image: np.ndarray, box: Box) -> list[np.ndarray]:
        """Copies of the first image rotated about the box's centre (none unless
        first_frame_rotation_positives > 0; see the config)."""
        config = self.config
        if config.first_frame_rotation_positives <= 0 or config.first_frame_rotation_degrees <= 0:
            return []
        return rotated_copies(image, box, config.first_frame_rotation_positives,
                              config.first_frame_rotation_degrees, self.rng)

    def _first_box_patches(self, copies: Sequence[np.ndarray], box: Box) -> torch.Tensor:
        """The first box's patches in copies of the first image (blurred or rotated)."""
        config = self.config
        if not copies:
            return torch.empty((0, NUM_CUES, config.patch_size, config.patch_size),
                               device=self.device)
        one = np.asarray(box, dtype=np.float64)[None]
        return torch.cat([self.scorer.crop_around(copy, one, box) for copy in copies])

    def _patch_samples(self, image: np.ndarray, frame_scores: FrameScores,
                       estimate: torch.Tensor, best: int, pick: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """This frame's samples as cue patches (positives, negatives, negative boxes), passed
        through the fixed first layer when the pools hold its output."""
        config = self.config
        estimate_box = tuple(float(v) for v in estimate.tolist())
        negative_boxes = frame_scores.boxes[pick]
        sample_levels = None
        if config.estimator == 'argmax':
            sample_levels = frame_scores.level_of[torch.cat([
                torch.tensor([best], device=self.device), pick])]
        patches = self.scorer.crop(frame_scores, torch.cat([estimate[None], negative_boxes]),
                                   sample_levels)
        positives, negatives = self._with_flip(patches[:1]), patches[1:]
        if config.wide_negatives > 0:
            wide = self._wide_boxes(estimate_box, image.shape[:2])
            negatives = torch.cat([negatives, self.scorer.crop_around(image, wide, estimate_box)])
            negative_boxes = torch.cat([negative_boxes, torch.as_tensor(
                wide, dtype=torch.float32, device=self.device)])
        shortfall = self._negative_shortfall(pick)
        if shortfall > 0:
            background = self._background_boxes(estimate_box, shortfall, image.shape[:2],
                                                config.wide_negative_spread)
            negatives = torch.cat([negatives,
                                   self.scorer.crop_around(image, background, estimate_box)])
            negative_boxes = torch.cat([negative_boxes, torch.as_tensor(
                background, dtype=torch.float32, device=self.device)])
        if config.scale_samples > 0:
            scaled = self._scale_boxes(estimate_box)
            negatives = torch.cat([negatives,
                                   self.scorer.crop_around(image, scaled, estimate_box)])
            negative_boxes = torch.cat([negative_boxes, torch.as_tensor(
                scaled, dtype=torch.float32, device=self.device)])
        if self.positives.stage == 'first':
            with torch.no_grad():
                positives = self.net.first_layer(positives)
                negatives = self.net.first_layer(negatives)
        return positives, negatives, negative_boxes

    def _first_layer_samples(self, image: np.ndarray, frame_scores: FrameScores,
                             estimate: torch.Tensor, pick: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                        torch.Tensor]:
        """This frame's samples as first-layer maps, read from the maps dense scoring built.

        The positive is cropped at the estimate and run through the first layer with its flip
        (the flip of a patch's maps is not the maps of the flipped patch: the filters are not
        symmetric). The particle negatives are their scored windows, and the wide negatives
        are windows drawn uniformly over the scored region, the background the next frames
        search, so no negative needs another pass of the first layer. Scale samples are
        other sizes than the scored windows: they are cropped and passed through it.
        With hard_negatives, the best-scoring windows away from the estimate follow the
        particle negatives. Also returns the network outputs of the scored negatives
        (particles, then hard ones), for the lazy update's test.
        """
        config = self.config
        with torch.no_grad():
            patch = self.scorer.crop(frame_scores, estimate[None])
            positives = self.net.first_layer(self._with_flip(patch))
            negatives = [self.scorer.window_first_maps(frame_scores, pick)]
            negative_boxes = [frame_scores.boxes[pick]]
            scored = [frame_scores.fused[pick]]
            if config.hard_negatives > 0:
                hard_boxes, hard_maps, hard_fused = self.scorer.hard_windows(
                    frame_scores, estimate, config.hard_negatives, config.iou_negative)
                negatives.append(hard_maps)
                negative_boxes.append(hard_boxes)
                scored.append(hard_fused)
            if config.wide_negatives > 0:
                wide_boxes, wide_maps = self._wide_windows(frame_scores, estimate)
                negatives.append(wide_maps)
                negative_boxes.append(torch.as_tensor(wide_boxes, dtype=torch.float32,
                                                      device=self.device))
            estimate_box = tuple(float(v) for v in estimate.tolist())
            shortfall = self._negative_shortfall(pick)
            if shortfall > 0:
                background = self._background_boxes(estimate_box, shortfall, image.shape[:2],
                                                    config.wide_negative_spread)
                negatives.append(self.net.first_layer(
                    self.scorer.crop_around(image, background, estimate_box)))
                negative_boxes.append(torch.as_tensor(background, dtype=torch.float32,
                                                      device=self.device))
            if config.scale_samples > 0:
                scaled = self._scale_boxes(estimate_box)
                negatives.append(self.net.first_layer(
                    self.scorer.crop_around(image, scaled, estimate_box)))
                negative_boxes.append(torch.as_tensor(scaled, dtype=torch.float32,
                                                      device=self.device))
        return positives, torch.cat(negatives), torch.cat(negative_boxes), torch.cat(scored)

    def _wide_boxes(self, estimate_box: Box, image_size: tuple[int, int]) -> np.ndarray:
        """wide_negatives boxes drawn around the estimate with wide_negative_spread times the
        position deviation (patch path; `_wide_windows` is the dense path's); with background
        selection only boxes with IoU <= iou_negative."""
        config = self.config
        if config.negative_selection == 'background':
            return self._background_boxes(estimate_box, config.wide_negatives, image_size,
                                          config.wide_negative_spread)
        return draw_particles(TargetState.from_box(estimate_box, self.state.aspect),
                              config.wide_negatives, config, self.rng, image_size,
                              config.wide_negative_spread)

    def _wide_windows(self, frame_scores: FrameScores, estimate: torch.Tensor
                      ) -> tuple[np.ndarray, torch.Tensor]:
        """wide_negatives windows drawn uniformly over the scored region (boxes, first-layer
        maps); with background selection only windows with IoU <= iou_negative, drawn four
        times over and the first kept (the region is several targets wide, so few overlap)."""
        config = self.config
        count = config.wide_negatives
        if config.negative_selection != 'background':
            return self.scorer.uniform_windows(frame_scores, count, self.rng)
        boxes, maps = self.scorer.uniform_windows(frame_scores, 4 * count, self.rng)
        overlap = iou_xywh(boxes, np.asarray(estimate.tolist()))
        keep = np.flatnonzero(overlap <= config.iou_negative)[:count]
        return boxes[keep], maps[torch.as_tensor(keep, device=maps.device)]

    def _negative_pick(self, particles: torch.Tensor, estimate: torch.Tensor) -> np.ndarray:
        """Indices of the frame's particles that join the negative pool.

        `particles`: negatives_per_frame of them uniformly, whatever their overlap (Eq. 6
        labels them, so near a large target most are positives). `background`: only those
        with IoU <= iou_negative, since the pool is the negative one; `_negative_shortfall`
        says how many more `_background_boxes` must supply.
        """
        config = self.config
        count = min(config.negatives_per_frame, config.num_particles)
        if config.negative_selection == 'background':
            overlap = iou_torch(particles[:config.num_particles], estimate)
            below = np.flatnonzero((overlap <= config.iou_negative).cpu().numpy())
            return self.rng.choice(below, size=min(count, below.size), replace=False)
        return self.rng.choice(config.num_particles, size=count, replace=False)

    def _negative_shortfall(self, pick: np.ndarray) -> int:
        """Negatives still owed this frame after the particles (background selection)."""
        if self.config.negative_selection != 'background':
            return 0
        return max(0, self.config.negatives_per_frame - len(pick))

    def _background_boxes(self, box: Box, count: int, image_size: tuple[int, int],
                          spread: float) -> np.ndarray:
        """Up to `count` boxes drawn around `box` with `spread` times the position deviation
        whose IoU with it is at most iou_negative (rejection sampling; a target that fills
        the image may leave fewer)."""
        config = self.config
        state = TargetState.from_box(box, self.state.aspect)
        found: list[np.ndarray] = []
        total = 0
        for _ in range(8):
            drawn = draw_particles(state, 4 * count, config, self.rng, image_size, spread)
            keep = drawn[iou_xywh(drawn, np.asarray(box)) <= config.iou_negative]
            found.append(keep)
            total += len(keep)
            if total >= count:
                break
        return np.concatenate(found)[:count]

    def _scale_boxes(self, box: Box) -> np.ndarray:
        """This frame's scale samples (none unless scale_samples > 0; see the config)."""
        config = self.config
        if config.scale_samples <= 0:
            return np.empty((0, 4))
        return scaled_boxes(box, config.scale_samples, config.scale_sample_range, self.rng)

    def _refine_scale(self, frame_scores: FrameScores, estimate_box: Box,
                      best_score: float) -> tuple[Box, float]:
        """Score the estimate's box scaled by 1 -/+ scale_search around the same centre and
        keep the best scale (a well-founded refinement of the estimated box).

        The particles' scale deviation (1 % per frame) moves a 32-px patch by a third of a
        pixel, which the network cannot resolve, so their scale drifts with noise; three
        crops a few per cent apart measure scale directly for three network passes. All
        three are cropped the same way so they compete fairly; the estimate keeps the dense
        score unless another scale wins.
        """
        x, y, w, h = estimate_box
        cx, cy = x + w / 2.0, y + h / 2.0
        step = self.config.scale_search
        factors = (1.0, 1.0 / (1.0 + step), 1.0 + step)
        min_side = self.config.min_object_size
        candidates = []
        for factor in factors:
            cw, ch = max(w * factor, min_side), max(h * factor, min_side)
            candidates.append((cx - cw / 2.0, cy - ch / 2.0, cw, ch))
        boxes = torch.as_tensor(candidates, dtype=torch.float32, device=self.device)
        patches = self.scorer.crop(frame_scores, boxes)
        scores = deeptrack_score(self.net(patches).fused)
        penalty = torch.tensor([1.0, self.config.scale_penalty, self.config.scale_penalty],
                               dtype=scores.dtype, device=scores.device)
        # Positive scores shrink by the penalty; negative ones (no target evidence) grow
        # more negative, so a changed scale never wins on the penalty's account.
        judged = torch.where(scores > 0, scores * penalty, scores / penalty)
        winner = int(torch.argmax(judged))
        if winner == 0:
            return estimate_box, best_score
        rate = self.config.scale_update_rate
        if rate >= 1.0:
            return tuple(candidates[winner]), float(scores[winner])
        factor = factors[winner] ** rate
        cw, ch = max(w * factor, min_side), max(h * factor, min_side)
        return (cx - cw / 2.0, cy - ch / 2.0, cw, ch), float(scores[winner])

    def _refine(self, image: np.ndarray, frame_scores: FrameScores, estimate_box: Box,
                best_score: float, state: TargetState | None = None,
                others: Sequence[TargetState] = ()) -> _Refined:
        """The estimate after the correlation filters (see `CorrelationRefiner`): its box and
        score, the filters' peak there, and whether a far jump of the network was doubted
        (see correlation_jump_peak).

        The filters refine the CNN's estimate. When that estimate jumped farther from the last
        state than the filters may move a box, the filters also look where the target was,
        and the place whose filter response peaks higher wins: a distractor the network
        scores as high as the target rarely matches the filters' template, a target that
        really moved far does not match it where it was. If the last state's place wins, the
        network scores the box there, so confidence and loss describe the box reported.
        With correlation_scale the size comes from the last state times the scale filter's
        factor: the particles' 1 % scale noise is not evidence of a size change.
        While the target is lost (or, with correlation_jump_doubt_followed, right after frames
        only the filters followed), a jump that wins is still doubted when the filters' peak
        there is well below what they peak at on the target (correlation_jump_peak): the
        box then stays where the target was and the frame counts as lost. Only then: a
        tracked target that moves far while its appearance changes must be followed.
        `state` is where the target was (the last state unless the camera moved it: see
        `_motion_hypotheses`); the filters also look at `others`, the other places it may
        have been carried to (correlation_jump_every_hypothesis), and the highest peak of
        all those places is the one compared.
        """
        config = self.config
        state = self.state if state is None else state
        if config.correlation_scale:
            size = (state.width, state.height)
        else:
            size = (estimate_box[2], estimate_box[3])
        refined = self.refiner.refine(image, estimate_box, size)
        x, y, w, h = estimate_box
        limit = config.correlation_max_shift
        if (abs(x + w / 2.0 - state.cx) <= limit * size[0]
                and abs(y + h / 2.0 - state.cy) <= limit * size[1]):
            if (config.correlation_verify > 0 and best_score > 0 and refined.shift_accepted
                    and self._score_box(frame_scores, refined.box)
                    < config.correlation_verify * best_score):
                # The network scores the filters' box well below its own: they disagree.
                return _Refined(estimate_box, best_score, refined.peak, False,
                                self.refiner.angle)
            return _Refined(refined.box, best_score, refined.peak, False, refined.angle)
        stayed = max((self.refiner.refine(image, (place.cx - w / 2.0, place.cy - h / 2.0, w, h),
                                          size) for place in [state, *others]),
                     key=lambda refinement: refinement.peak)
        if stayed.peak <= refined.peak and not self._jump_doubted(refined.peak):
            return _Refined(refined.box, best_score, refined.peak, False, refined.angle)
        return _Refined(stayed.box, self._score_box(frame_scores, stayed.box), stayed.peak,
                        stayed.peak <= refined.peak, stayed.angle)

    def _jump_doubted(self, peak: float) -> bool:
        """Whether the filters' `peak` at a far jump while lost is too low for a recognised
        target: below correlation_jump_peak of their usual peak (never with no lost frame
        before, no learned history, or the ratio 0). With correlation_jump_doubt_followed a
        frame the filters only followed counts as lost here."""
        unrecognised = self._frames_lost > 0 or (self.config.correlation_jump_doubt_followed
                                                 and self._frames_followed > 0)
        return unrecognised and self._peak_below(peak, self.config.correlation_jump_peak)

    def _learning_refused(self, peak: float) -> bool:
        """Whether the filters' `peak` is too low for the frame to be learned: below
        correlation_learn_peak of their usual peak, once that usual peak spans
        correlation_learn_after learned frames (0: a whole reliability_memory, since the first
        frames after frame 1, whose filters were just solved on the target, peak higher than
        any later frame will; the history holds no more than reliability_memory)."""
        memory = self.config.reliability_memory
        after = min(self.config.correlation_learn_after or memory, memory)
        return (len(self._learned_peaks) >= after
                and self._peak_below(peak, self.config.correlation_learn_peak))

    def _filters_follow(self, peak: float) -> bool:
        """Whether the filters recognise the target at a box the network calls lost: their
        `peak` there reaches correlation_follow_peak of their usual peak (never with no
        learned history or the ratio 0)."""
        return self._peak_reaches(peak, self.config.correlation_follow_peak)

    def _peak_reaches(self, peak: float, ratio: float) -> bool:
        """Whether `peak` reaches `ratio` of the filters' usual peak (never with no learned
        history or the ratio 0)."""
        if ratio <= 0:
            return False
        relative = self._relative_peak(peak)
        return relative is not None and relative >= ratio

    def _peak_below(self, peak: float, ratio: float) -> bool:
        """Whether `peak` is below `ratio` of the filters' usual peak (never with no learned
        history or the ratio 0): the converse of `_peak_reaches`."""
        if ratio <= 0:
            return False
        relative = self._relative_peak(peak)
        return relative is not None and relative < ratio

    def _relative_peak(self, peak: float) -> float | None:
        """`peak` over the filters' median peak on the last reliability_memory learned frames
        (what a recognised target looks like to them); None without that history."""
        if not self._learned_peaks:
            return None
        usual = float(np.median(self._learned_peaks))
        return peak / usual if usual > 0 else None

    def _score_box(self, frame_scores: FrameScores, box: Box) -> float:
        """The network's score S of one box of this frame."""
        boxes = torch.tensor([[float(v) for v in box]], dtype=torch.float32, device=self.device)
        with torch.no_grad():
            return float(deeptrack_score(self.net(self.scorer.crop(frame_scores, boxes))
                                         .fused)[0])

    def _with_motion_prior(self, particles: torch.Tensor, scores: torch.Tensor,
                           searches: Sequence[TargetState], spread: float) -> torch.Tensor:
        """Scores for choosing the estimate (see `motion_prior_scores`), with a prior that
        favours every place the particles were drawn around, as wide as their cloud
        (`spread` is the frame's `_search_spread`)."""
        width = self.config.motion_prior
        if width <= 0:
            return scores
        sigma = position_sigma(self.state.height, self.config) * width * spread
        return motion_prior_scores(particles, scores,
                                   [(search.cx, search.cy) for search in searches], sigma)

    def _kept_copy(self, image: np.ndarray) -> np.ndarray | None:
        """A copy of the frame for the next one to compare with, when the filters judge still
        cells (correlation_still_weight < 1); None otherwise. A copy, since a caller may
        refill one image buffer for every frame."""
        if not self.config.correlation_refine or self.config.correlation_still_weight >= 1.0:
            return None
        return image.copy()

    def _scene_shift(self, image: np.ndarray) -> tuple[float, float]:
        """How far the whole image moved since the last frame (px; none without camera
        motion measured, see `CameraMotion`)."""
        if self.camera is None:
            return (0.0, 0.0)
        dx, dy, _ = self.camera.shift(image)
        return (dx, dy)

    def _motion_hypotheses(self, shift: tuple[float, float], image_size: tuple[int, int]
                           ) -> list[tuple[TargetState, int]]:
        """Where the target may be before this frame is searched, each with its number of
        particles: where it was in the image and, with camera motion measured, where the
        image's `shift` since the last frame (`_scene_shift`) carried it.

        A camera that shakes or rides along moves the target by as much as the scene, one
        that pans to keep the target in view (a servoing robot, an operator) moves the scene
        and not the target, and one frame cannot tell the two apart, so camera_motion_share
        of the particles go to the carried place and the rest stay. A lost target is not
        being followed by anybody: it is awaited where the scene carried it, and so is
        every target with a share of 1. The state moves only then; the velocity stays the
        target's own motion in the scene.
        """
        config = self.config
        dx, dy = shift
        if dx == 0.0 and dy == 0.0:
            return [(self.state, config.num_particles)]
        height, width = image_size
        carried = dataclasses.replace(self.state,
                                      cx=min(max(self.state.cx + dx, 0.0), float(width)),
                                      cy=min(max(self.state.cy + dy, 0.0), float(height)))
        share = config.camera_motion_share
        if self._frames_lost > 0 or share >= 1.0:
            self.state = carried
            return [(carried, config.num_particles)]
        moved = int(round(share * config.num_particles))
        if moved <= 0:
            return [(self.state, config.num_particles)]
        return [(self.state, config.num_particles - moved), (carried, moved)]

    def _predicted_state(self, state: TargetState, image_size: tuple[int, int]) -> TargetState:
        """Where the particles are drawn: `state` moved by velocity_gain times the last
        displacement (none after a lost frame), its centre kept inside the image."""
        gain = self.config.velocity_gain
        if gain <= 0:
            return state
        height, width = image_size
        cx = min(max(state.cx + gain * self._velocity[0], 0.0), float(width))
        cy = min(max(state.cy + gain * self._velocity[1], 0.0), float(height))
        return dataclasses.replace(state, cx=cx, cy=cy)

    def _search_spread(self) -> float:
        """Factor on the position deviation: 1 for a target slower than the deviation,
        more for a faster one (`search_speed_gain`), growing while lost."""
        config = self.config
        lost = min(math.sqrt(1.0 + self._frames_lost), config.lost_search_growth)
        if config.search_speed_gain <= 0 or not self._speeds:
            return lost
        speed = math.sqrt(float(np.mean(np.square(self._speeds))))
        sigma = position_sigma(self.state.height, config)
        fast = min(max(1.0, config.search_speed_gain * speed / max(sigma, 1e-6)),
                   config.search_speed_max_spread)
        return min(fast * lost, max(config.search_speed_max_spread, config.lost_search_growth))

    def _reliability(self, confidence: float) -> float:
        """This frame's confidence relative to the median confidence of the last frames that
        were not lost (1 without history). Confidence, not S: S = s1 exp(s1 - s2) grows
        exponentially, and one frame at S = 50 would make every normal frame after it look
        unreliable; confidence saturates at an ideal positive."""
        if not self._tracked_confidences:
            return 1.0
        reference = float(np.median(self._tracked_confidences))
        if reference <= 0:
            return 1.0
        return confidence / reference

    def _estimate(self, particles: torch.Tensor, scores: torch.Tensor, best: int) -> Box:
        """Eq. 7 (argmax), the mean box of the top-k particles, or the centre of the peak.

        Every window with IoU > 0.5 to the target is labelled positive (Eq. 6), so the
        network's response is a plateau about a fifth of the object wide, and its argmax
        wanders across it from frame to frame (on OTB FaceOcc1 a steady 30 px off a 114 px
        face). The peak's weighted centre does not; windows are counted once however many
        particles snapped onto them, so the particles' density does not pull it.
        """
        if self.config.estimator == 'argmax':
            chosen = particles[best]
        elif self.config.estimator == 'peak_mean':
            floor = self.config.quality_v * float(scores[best])
            near = (scores > floor) & (iou_torch(particles, particles[best]) > 0.5)
            boxes, index = torch.unique(particles[near], dim=0, return_inverse=True)
            weights = torch.zeros(boxes.shape[0], dtype=scores.dtype, device=scores.device)
            weights.scatter_(0, index, scores[near] - floor)
            if float(weights.sum()) <= 0:
                chosen = particles[best]
            else:
                chosen = (boxes * weights[:, None]).sum(dim=0) / weights.sum()
        else:
            k = min(self.config.top_k, particles.shape[0])
            chosen = particles[torch.topk(scores, k).indices].mean(dim=0)
        return tuple(float(v) for v in chosen.tolist())

    def _store_samples(self, positive: torch.Tensor, negatives: torch.Tensor,
                       negative_boxes: torch.Tensor, estimate: torch.Tensor,
                       quality: float) -> SampleSet:
        """Add this frame's samples to the pools and return them for the lazy-update test."""
        config = self.config
        frame = self._frame
        pos_labels = torch.ones(positive.shape[0], device=self.device)
        pos_importance = sample_importance(torch.ones_like(pos_labels), config.theta_steepness)
        iou = iou_torch(negative_boxes, estimate)
        neg_labels, neg_importance = labels_and_importance(iou, config)
        self.positives.add(positive, pos_labels, pos_importance, frame, quality)
        self.negatives.add(negatives, neg_labels, neg_importance, frame, quality)
        return SampleSet(torch.cat([positive, negatives]), torch.cat([pos_labels, neg_labels]),
                         torch.cat([pos_importance, neg_importance]))

    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)


class _Refined(NamedTuple):
    """What `DeepTracker._refine` decided: the box, the network's score of it, the filters'
    peak there, and whether a far jump of the network was doubted (the box then stayed)."""

    box: Box
    score: float
    peak: float
    doubted: bool
    angle: float = 0.0  # the target's angle the filters measured (correlation_rotations)


def _nearest_state(states: Sequence[TargetState], box: Box) -> TargetState:
    """The state whose centre is nearest to `box`'s (the first of equals)."""
    cx, cy = center_of(box)
    return min(states, key=lambda state: (state.cx - cx) ** 2 + (state.cy - cy) ** 2)


def _agree(first: Box, second: Box, fraction: float) -> bool:
    """Whether two boxes' centres are within `fraction` of the first's size on both axes
    (always true with fraction 0)."""
    if fraction <= 0:
        return True
    (x1, y1), (x2, y2) = center_of(first), center_of(second)
    return abs(x1 - x2) <= fraction * first[2] and abs(y1 - y2) <= fraction * first[3]


def _confidence(score: float) -> float:
    """Map S = s1 exp(s1 - s2) to [0, 1]: an ideal positive (s = [1, 0]) has S = e."""
    if not math.isfinite(score):
        return 0.0
    return min(1.0, max(0.0, score / math.e))
