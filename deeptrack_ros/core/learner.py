"""Online learning: iterative SGD over cues and fusion layer, with the lazy update (Sec. III).

One IT-SGD iteration draws a mini-batch from the pools (Eq. 11-14), takes an SGD step on every
cue branch against its own 8 -> 2 head (rate r), then re-evaluates each cue's features and
updates the fusion layer on that cue's 8 input dimensions only (coordinate descent, rate r_hat).
The cue branches share no parameters, so stepping all of them from one backward pass equals
stepping them one after another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deeptrack_ros.core.config import TrackerConfig
from deeptrack_ros.core.loss import label_targets, structural_loss
from deeptrack_ros.core.memory import SamplePool, negative_probabilities, positive_probabilities
from deeptrack_ros.core.network import NUM_CUES, DeepTrackNet


@dataclass(frozen=True)
class SampleSet:
    """Training samples of one frame: patches, scalar labels and importance Theta."""

    patches: torch.Tensor
    labels: torch.Tensor
    importance: torch.Tensor


@dataclass(frozen=True)
class UpdateOutcome:
    """What a (lazy) update did on one frame."""

    iterations: int
    loss_before: float
    loss_after: float

    @property
    def updated(self) -> bool:
        return self.iterations > 0


class OnlineLearner:
    """Trains a DeepTrackNet online from the two sample pools."""

    def __init__(self, net: DeepTrackNet, config: TrackerConfig,
                 rng: np.random.Generator) -> None:
        self.net = net
        self.config = config
        self.rng = rng
        self.cue_optimizer = torch.optim.SGD(net.cue_parameters(), lr=config.lr_cue,
                                             momentum=config.momentum)
        self.anchor: SampleSet | None = None

    def set_anchor(self, samples: SampleSet) -> None:
        """Keep the first frame's positives (the only samples known to be the target) for
        every later mini-batch, outside the pool's ring buffer so they never age out."""
        self.anchor = samples

    @torch.no_grad()
    def frame_loss(self, samples: SampleSet) -> float:
        """Eq. 10 on the fused output of the current model (used on the first frame)."""
        fused = self.net(samples.patches).fused
        return float(structural_loss(fused, samples.labels, samples.importance, self.config))

    def lazy_update(self, current_loss: float, positives: SamplePool, negatives: SamplePool,
                    frame: int, max_iterations: int, force: bool = False,
                    lr_fusion: float | None = None,
                    epsilon: float | None = None) -> UpdateOutcome:
        """Train only when the loss L1 exceeds trigger * epsilon, then until the training loss
        L is below epsilon (or the iteration bound is reached).

        L1 is `current_loss`, the current frame's, which comes from outputs the tracker
        already computed while scoring, so a frame that needs no update costs no extra
        network pass; or, with lazy_trigger batch, the first mini-batch's. `force` skips the
        trigger test (first frame, where the model starts untrained); `lr_fusion` overrides
        r_hat and `epsilon` the loss to train down to (first_frame_epsilon).
        """
        config = self.config
        first: SampleSet | None = None
        if not force and config.lazy_trigger == 'batch':
            # L1 as the training loss of the first iteration's mini-batch (lazy_trigger).
            first = self.draw_batch(positives, negatives, frame)
            with torch.no_grad():
                fused = self.net.forward_stage(first.patches, positives.stage).fused
                current_loss = float(structural_loss(fused, first.labels, first.importance,
                                                     config))
        if not force and current_loss <= config.lazy_trigger_factor * config.lazy_epsilon:
            return UpdateOutcome(0, current_loss, current_loss)
        iterations = 0
        loss = current_loss
        while iterations < max_iterations:
            loss = self.step(positives, negatives, frame, lr_fusion, first)
            first = None
            iterations += 1
            if loss < (config.lazy_epsilon if epsilon is None else epsilon):
                break
        return UpdateOutcome(iterations, current_loss, loss)

    def draw_batch(self, positives: SamplePool, negatives: SamplePool,
                   frame: int) -> SampleSet:
        """A mini-batch: positives uniformly, negatives by recency, both weighted by Q."""
        config = self.config
        pos_p = positive_probabilities(positives.quality_in_pool(), config.use_quality_weighting)
        neg_p = negative_probabilities(negatives.frames_in_pool(), negatives.quality_in_pool(),
                                       frame, config.temporal_sigma,
                                       config.use_quality_weighting)
        anchored = min(config.anchor_positives, config.batch_positives) \
            if self.anchor is not None else 0
        pos_index = self.rng.choice(positives.size, size=config.batch_positives - anchored,
                                    p=pos_p)
        neg_index = self.rng.choice(negatives.size, size=config.batch_negatives, p=neg_p)
        pos = positives.gather(pos_index)
        neg = negatives.gather(neg_index)
        if anchored:
            chosen = torch.from_numpy(self.rng.integers(0, self.anchor.labels.shape[0],
                                                        anchored))
            pos = tuple(torch.cat([part, whole[chosen.to(whole.device)]]) for part, whole in
                        zip(pos, (self.anchor.patches, self.anchor.labels,
                                  self.anchor.importance)))
        return SampleSet(torch.cat([pos[0], neg[0]]), torch.cat([pos[1], neg[1]]),
                         torch.cat([pos[2], neg[2]]))

    def step(self, positives: SamplePool, negatives: SamplePool, frame: int,
             lr_fusion: float | None = None, batch: SampleSet | None = None) -> float:
        """One IT-SGD iteration on a fresh mini-batch (or on `batch`, already drawn);
        returns the batch's fused loss (Eq. 10) before the step, the L the lazy update drives
        below epsilon."""
        config = self.config
        if batch is None:
            batch = self.draw_batch(positives, negatives, frame)
        output = self.net.forward_stage(batch.patches, positives.stage)
        with torch.no_grad():
            fused_loss = float(structural_loss(output.fused, batch.labels, batch.importance,
                                               config))
        self._step_cues(batch, output.cue_outputs)
        self._step_fusion(batch, output.features.detach(),
                          config.lr_fusion if lr_fusion is None else lr_fusion)
        return fused_loss

    def _step_cues(self, batch: SampleSet, cue_outputs: torch.Tensor) -> None:
        """SGD on every cue branch against its own head (Eq. 10 per cue).

        Samples whose truncated error is zero in a cue contribute no gradient there (the
        truncated norm's point). The backward pass runs on the whole batch: measured on two
        CPU cores, a second forward pass restricted to the non-zero samples cost more than it
        saved, because the batch is small and most samples stay active.
        """
        config = self.config
        per_cue = structural_loss(cue_outputs, batch.labels, batch.importance, config)
        loss = per_cue.sum()
        if not loss.requires_grad or float(loss.detach()) == 0.0:
            return
        self.cue_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.net.cue_parameters(), config.grad_clip)
        self.cue_optimizer.step()

    def _step_fusion(self, batch: SampleSet, features: torch.Tensor, rate: float) -> None:
        """Coordinate descent on the fusion layer, one cue's 8 input dimensions at a time.

        Uses the cue responses of this batch from before the cue step: re-running the
        branches after it would double the cost for a change of one small SGD step. The
        gradient of Eq. 10 for a linear layer is written out (dL/dW = G^T x with
        G = 2 Theta (f - l) / N where the truncated error is non-zero): three autograd calls
        per step cost more than the whole arithmetic.
        """
        config = self.config
        fusion = self.net.fusion
        hidden = self.net.hidden
        with torch.no_grad():
            flat = features.reshape(features.shape[0], -1)
            targets = label_targets(batch.labels)
            threshold = config.truncation_beta / (1.0 + config.truncation_u * batch.labels)
            scale = 2.0 * batch.importance / flat.shape[0]
            for cue in range(NUM_CUES):
                residual = fusion(flat) - targets
                active = (residual * residual).sum(dim=1) > threshold
                if not bool(active.any()):
                    return
                grad_out = residual * (scale * active.to(scale.dtype))[:, None]
                block = slice(cue * hidden, (cue + 1) * hidden)
                fusion.weight[:, block] -= rate * (grad_out.T @ flat[:, block])
                fusion.bias -= rate * grad_out.sum(dim=0) / NUM_CUES
