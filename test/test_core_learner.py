"""The lazy update and IT-SGD on a tiny problem, without images."""

import numpy as np
import torch

from deeptrack_ros.core.config import preset
from deeptrack_ros.core.learner import OnlineLearner, SampleSet
from deeptrack_ros.core.memory import SamplePool
from deeptrack_ros.core.network import DeepTrackNet

# L1 handed in by the caller (the frame's loss), unless a test asks for the batch reading.
CONFIG = preset('paper').replace(batch_positives=4, batch_negatives=8, momentum=0.9,
                                 lazy_trigger='frame')


def _setup():
    gen = torch.Generator().manual_seed(0)
    net = DeepTrackNet(CONFIG)
    net.reset_parameters_with(gen)
    learner = OnlineLearner(net, CONFIG, np.random.default_rng(0))
    positives = SamplePool(20, (3, 32, 32), torch.device('cpu'))
    negatives = SamplePool(40, (3, 32, 32), torch.device('cpu'))
    bright = torch.rand(4, 3, 32, 32, generator=gen) * 2 + 8
    dark = torch.rand(12, 3, 32, 32, generator=gen) * 2
    positives.add(bright, torch.ones(4), torch.full((4,), 0.24), 0, 1.0)
    negatives.add(dark, torch.zeros(12), torch.full((12,), 0.24), 0, 1.0)
    current = SampleSet(torch.cat([bright, dark]), torch.cat([torch.ones(4), torch.zeros(12)]),
                        torch.full((16,), 0.24))
    return learner, positives, negatives, current


def test_lazy_update_skips_small_loss():
    learner, positives, negatives, _ = _setup()
    before = [p.detach().clone() for p in learner.net.parameters()]
    small = CONFIG.lazy_trigger_factor * CONFIG.lazy_epsilon * 0.99
    outcome = learner.lazy_update(small, positives, negatives, 0, 10)
    assert outcome.iterations == 0 and not outcome.updated
    assert all(torch.equal(a, b) for a, b in zip(before, learner.net.parameters()))


def test_lazy_update_trains_until_epsilon_or_bound():
    learner, positives, negatives, current = _setup()
    start = learner.frame_loss(current)
    outcome = learner.lazy_update(start, positives, negatives, 0, 300)
    assert outcome.updated
    assert outcome.loss_after < CONFIG.lazy_epsilon or outcome.iterations == 300
    assert learner.frame_loss(current) < start
    bounded = _setup()
    outcome = bounded[0].lazy_update(1.0, bounded[1], bounded[2], 0, 3)
    assert outcome.iterations == 3


def test_batch_trigger_tests_the_first_mini_batch_and_trains_on_it():
    """With lazy_trigger batch the frame's loss is not what decides: an untrained network's
    first mini-batch loss is far above 2 epsilon, so it trains even when the frame's loss
    says nothing changed, and reports that mini-batch's loss as L1; where the mini-batch's
    loss is below the trigger, a frame loss above it changes no weight."""
    config = CONFIG.replace(lazy_trigger='batch')
    learner, positives, negatives, _ = _setup()
    learner = OnlineLearner(learner.net, config, np.random.default_rng(0))
    small = config.lazy_trigger_factor * config.lazy_epsilon * 0.5
    first = learner.draw_batch(positives, negatives, 0)
    learner.rng = np.random.default_rng(0)
    with torch.no_grad():
        expected = learner.frame_loss(first)
    outcome = learner.lazy_update(small, positives, negatives, 0, 5)
    assert outcome.updated and outcome.loss_before == expected
    assert expected > config.lazy_trigger_factor * config.lazy_epsilon
    # Where the mini-batch's loss is below the trigger, a frame loss above it starts nothing.
    tolerant = config.replace(lazy_epsilon=1.0)
    learner = OnlineLearner(learner.net, tolerant, np.random.default_rng(1))
    before = [p.detach().clone() for p in learner.net.parameters()]
    frame_loss = 5.0 * tolerant.lazy_trigger_factor * tolerant.lazy_epsilon
    outcome = learner.lazy_update(frame_loss, positives, negatives, 0, 5)
    assert not outcome.updated
    assert outcome.loss_before <= tolerant.lazy_trigger_factor * tolerant.lazy_epsilon
    assert all(torch.equal(a, b) for a, b in zip(before, learner.net.parameters()))


def test_fusion_update_touches_only_its_cue_block_per_step():
    learner, positives, negatives, _ = _setup()
    batch = learner.draw_batch(positives, negatives, 0)
    features = learner.net(batch.patches).features.detach()
    features[:, 1:] = 0.0  # cues 2 and 3 silent: their fusion weights get no gradient
    before = learner.net.fusion.weight.detach().clone()
    learner._step_fusion(batch, features, CONFIG.lr_fusion)
    after = learner.net.fusion.weight.detach()
    hidden = learner.net.hidden
    assert not torch.equal(before[:, :hidden], after[:, :hidden])
    assert torch.equal(before[:, hidden:], after[:, hidden:])


def test_fusion_step_equals_autograd_gradient_of_equation_ten():
    """The written-out fusion gradient is the autograd gradient of Eq. 10, block by block."""
    from deeptrack_ros.core.loss import structural_loss

    learner, positives, negatives, _ = _setup()
    batch = learner.draw_batch(positives, negatives, 0)
    features = learner.net(batch.patches).features.detach()
    fusion = learner.net.fusion
    weight, bias = fusion.weight.detach().clone(), fusion.bias.detach().clone()
    rate, hidden = 0.3, learner.net.hidden
    flat = features.reshape(features.shape[0], -1)
    for cue in range(3):
        w = weight.clone().requires_grad_(True)
        b = bias.clone().requires_grad_(True)
        loss = structural_loss(flat @ w.T + b, batch.labels, batch.importance, CONFIG)
        grad_w, grad_b = torch.autograd.grad(loss, [w, b])
        block = slice(cue * hidden, (cue + 1) * hidden)
        weight[:, block] -= rate * grad_w[:, block]
        bias -= rate * grad_b / 3
    learner._step_fusion(batch, features, rate)
    assert torch.allclose(fusion.weight, weight, atol=1e-6)
    assert torch.allclose(fusion.bias, bias, atol=1e-6)


def test_anchor_positives_join_every_batch_and_outlive_the_pool():
    """With anchor_positives k, the last k positives of every mini-batch are drawn from the
    anchor set (the first frame's positives), however full the pool is of other frames."""
    config = CONFIG.replace(anchor_positives=2)
    gen = torch.Generator().manual_seed(1)
    net = DeepTrackNet(config)
    net.reset_parameters_with(gen)
    learner = OnlineLearner(net, config, np.random.default_rng(0))
    anchor = SampleSet(torch.full((2, 3, 32, 32), 7.0), torch.ones(2), torch.full((2,), 0.24))
    learner.set_anchor(anchor)
    positives = SamplePool(6, (3, 32, 32), torch.device('cpu'))
    negatives = SamplePool(6, (3, 32, 32), torch.device('cpu'))
    for frame in range(1, 5):  # the pool wraps: nothing of frame 0 is left in it
        positives.add(torch.full((3, 3, 32, 32), float(frame)), torch.ones(3),
                      torch.full((3,), 0.24), frame, 1.0)
        negatives.add(torch.zeros(3, 3, 32, 32), torch.zeros(3), torch.full((3,), 0.24),
                      frame, 1.0)
    for _ in range(5):
        batch = learner.draw_batch(positives, negatives, 4)
        count = config.batch_positives
        assert batch.patches.shape[0] == count + config.batch_negatives
        values = batch.patches[:count, 0, 0, 0]
        assert torch.equal(values[count - 2:], torch.full((2,), 7.0))
        assert bool((values[:count - 2] != 7.0).all())
        assert torch.equal(batch.labels[:count], torch.ones(count))
    plain = OnlineLearner(net, CONFIG, np.random.default_rng(0))
    plain.set_anchor(anchor)  # anchor_positives 0: the pool alone, as in the paper
    batch = plain.draw_batch(positives, negatives, 4)
    assert bool((batch.patches[:CONFIG.batch_positives, 0, 0, 0] != 7.0).all())
