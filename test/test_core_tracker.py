"""The tracker end to end: network shapes, bad inputs, determinism, a synthetic sequence."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deeptrack_ros.core import DeepTracker, TrackResult, preset
from deeptrack_ros.core.boxes import iou_torch, iou_xywh
from deeptrack_ros.core.config import TrackerConfig
from deeptrack_ros.core.cues import is_gray
from deeptrack_ros.core.network import DeepTrackNet, deeptrack_score

SIZE = (150, 200)  # rows, cols


def _smooth_noise(rng, shape, cell):
    """Blocky noise upsampled and box-blurred: a texture with structure at a given scale."""
    coarse = rng.random((shape[0] // cell + 2, shape[1] // cell + 2, 3))
    big = np.kron(coarse, np.ones((cell, cell, 1)))[:shape[0], :shape[1]]
    kernel = np.ones(cell) / cell
    for axis in (0, 1):
        big = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode='same'), axis, big)
    return big


def _scene(rng, size):
    """A textured background of `size` and a 40 x 30 target texture, both 0-255 floats.

    The target is reddish and aperiodic: nothing in it repeats, so no shifted copy matches it.
    """
    background = (_smooth_noise(rng, size, 6) * 0.6 + 0.2) * 255
    target = _smooth_noise(rng, (40, 30), 4)
    target[..., 0] = 0.5 + 0.5 * target[..., 0]
    return background, target * 255


def synthetic_sequence(frames=50, seed=3):
    """A textured target moving, growing and briefly occluded on a textured background.

    Returns (images, boxes) with boxes 0-based (x, y, w, h).
    """
    background, target = _scene(np.random.default_rng(seed), SIZE)
    images, boxes = [], []
    for t in range(frames):
        scale = 1.0 + 0.25 * t / frames
        h, w = int(round(40 * scale)), int(round(30 * scale))
        cx = 60 + 70 * t / frames + 8 * np.sin(t / 5)
        cy = 70 + 20 * np.sin(t / 9)
        x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
        image = background.copy()
        rows = (np.arange(h) * 40 / h).astype(int)
        cols = (np.arange(w) * 30 / w).astype(int)
        image[y0:y0 + h, x0:x0 + w] = target[rows][:, cols]
        if 30 <= t < 33:  # a gray occluder covers most of the target for three frames
            image[y0 - 5:y0 + h + 5, x0 + w // 4:x0 + w + 5] = 128
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        boxes.append((float(x0), float(y0), float(w), float(h)))
    return images, np.array(boxes)


# The shipped configuration, lightened for a 2-core CI machine.
FAST = preset('best').replace(first_frame_iterations=100, max_update_iterations=3,
                              batch_positives=8, batch_negatives=24)


def run(config, images, box, seed=0):
    tracker = DeepTracker(config, device='cpu', seed=seed)
    results = [tracker.initialize(images[0], box)]
    results += [tracker.track(image) for image in images[1:]]
    return results


def test_network_shapes_and_dense_equals_per_patch():
    net = DeepTrackNet(preset('paper'))
    net.reset_parameters_with(torch.Generator().manual_seed(1))
    x = torch.rand(5, 3, 32, 32) * 10
    out = net(x)
    assert out.features.shape == (5, 3, 8)
    assert out.cue_outputs.shape == (5, 3, 2)
    assert out.fused.shape == (5, 2)
    assert net.conv1.weight.shape == (36, 1, 13, 13)
    assert net.conv2.weight.shape == (54, 12, 7, 7)
    assert net.fc_weight.shape == (3, 72, 8)
    assert net.fusion.weight.shape == (2, 24)
    maps = torch.rand(3, 45, 40) * 10
    with torch.no_grad():
        dense = net.dense_forward(maps)
        assert dense.shape == (2, 14, 9)
        windows = torch.stack([maps[:, i:i + 32, j:j + 32] for i in range(14)
                               for j in range(9)])
        single = net(windows).fused.T.reshape(2, 14, 9)
        assert torch.allclose(dense, single, atol=1e-4)


@pytest.mark.parametrize('shape', [(1, 36, 57, 139), (4, 18, 20, 31), (2, 3, 2, 2)])
def test_stride_one_pooling_equals_max_pool2d(shape):
    from deeptrack_ros.core.network import _max_pool_2x2_stride1

    maps = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    assert torch.equal(_max_pool_2x2_stride1(maps), F.max_pool2d(maps, 2, stride=1))


def test_first_layer_gradient_equals_autograd_convolution():
    """The FFT weight gradient of conv1 must equal PyTorch's own convolution gradient."""
    net = DeepTrackNet(preset('paper'))
    net.reset_parameters_with(torch.Generator().manual_seed(2))
    x = torch.rand(6, 3, 32, 32) * 10
    out = net(x)
    loss = (out.fused ** 2).sum() + (out.cue_outputs ** 2).sum()
    fast = torch.autograd.grad(loss, [net.conv1.weight, net.conv1.bias, net.conv2.weight])
    first = torch.nn.functional.conv2d(x, net.conv1.weight, net.conv1.bias, groups=3)
    c1, c2 = 12, 18
    branches = []
    for cue in range(3):
        h = torch.nn.functional.max_pool2d(torch.relu(first[:, cue * c1:(cue + 1) * c1]), 2)
        h = torch.nn.functional.conv2d(h, net.conv2.weight[cue * c2:(cue + 1) * c2],
                                       net.conv2.bias[cue * c2:(cue + 1) * c2])
        branches.append(torch.nn.functional.max_pool2d(torch.relu(h), 2).flatten(1))
    feats = torch.relu(torch.einsum('ncf,cfh->nch', torch.stack(branches, 1), net.fc_weight)
                       + net.fc_bias)
    cue_out = torch.einsum('nch,cho->nco', feats, net.head_weight) + net.head_bias
    fused = net.fusion(feats.reshape(6, -1))
    reference = torch.autograd.grad((fused ** 2).sum() + (cue_out ** 2).sum(),
                                    [net.conv1.weight, net.conv1.bias, net.conv2.weight])
    for mine, theirs in zip(fast, reference):
        assert torch.allclose(mine, theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))


def test_gray_detected_by_content():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, (20, 20), dtype=np.uint8)
    assert is_gray(np.repeat(gray[..., None], 3, axis=2), 2.0)
    assert is_gray(gray, 2.0)
    assert not is_gray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8), 2.0)


@pytest.mark.parametrize('image, word', [
    (np.zeros((50, 50, 3), dtype=np.float32), 'uint8'),
    (np.zeros((50, 50, 4), dtype=np.uint8), 'shape'),
    (np.zeros((50,), dtype=np.uint8), 'shape'),
    ([[0, 1]], 'numpy'),
])
def test_bad_images_rejected(image, word):
    tracker = DeepTracker(FAST, device='cpu', seed=0)
    with pytest.raises(ValueError, match=word):
        tracker.initialize(image, (1, 1, 5, 5))


@pytest.mark.parametrize('box, word', [
    ((10, 10, 0, 5), 'positive'), ((10, 10, 5, -2), 'positive'),
    ((float('nan'), 10, 5, 5), 'finite'), ((500, 500, 5, 5), 'outside'),
])
def test_bad_boxes_rejected(box, word):
    tracker = DeepTracker(FAST, device='cpu', seed=0)
    image = np.zeros((60, 80, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=word):
        tracker.initialize(image, box)


def test_track_before_initialize_and_size_change():
    images, boxes = synthetic_sequence(frames=2)
    tracker = DeepTracker(FAST.replace(first_frame_iterations=1), device='cpu', seed=0)
    with pytest.raises(RuntimeError):
        tracker.track(images[0])
    tracker.initialize(images[0], boxes[0])
    with pytest.raises(ValueError, match='size changed'):
        tracker.track(images[1][:100])


def test_cuda_request_without_gpu_falls_back():
    if torch.cuda.is_available():
        pytest.skip('a GPU is present: the fallback cannot be observed')
    with pytest.warns(RuntimeWarning, match='CUDA'):
        tracker = DeepTracker(FAST, device='cuda', seed=0)
    assert tracker.device.type == 'cpu'


def test_deterministic_on_cpu():
    images, boxes = synthetic_sequence(frames=6)
    config = FAST.replace(first_frame_iterations=10)
    first = [(r.box, r.quality, r.iterations) for r in run(config, images, boxes[0], seed=5)]
    second = [(r.box, r.quality, r.iterations) for r in run(config, images, boxes[0], seed=5)]
    assert first == second
    other = [(r.box, r.quality, r.iterations) for r in run(config, images, boxes[0], seed=6)]
    assert other != first


@pytest.mark.parametrize('still_weight', [1.0, 0.0])
def test_a_refilled_image_buffer_tracks_like_fresh_images(still_weight):
    # A camera driver or video reader may refill one array for every frame. The tracker must
    # not take the refilled array for the frame it already computed cells of, nor compare a
    # frame with itself for the filters' still cells.
    images, boxes = synthetic_sequence(frames=12)
    config = FAST.replace(first_frame_iterations=30, correlation_still_weight=still_weight)
    fresh = [r.box for r in run(config, images, boxes[0])]
    tracker = DeepTracker(config, device='cpu', seed=0)
    buffer = images[0].copy()
    refilled = [tracker.initialize(buffer, boxes[0]).box]
    for image in images[1:]:
        buffer[...] = image
        refilled.append(tracker.track(buffer).box)
    assert refilled == fresh


def test_follows_synthetic_sequence():
    images, boxes = synthetic_sequence()
    results = run(FAST, images, boxes[0])
    assert all(isinstance(r, TrackResult) for r in results)
    tracked = np.array([r.box for r in results])
    iou = iou_xywh(tracked, boxes)
    assert iou.mean() > 0.6, f'mean IoU {iou.mean():.3f}'
    assert results[0].updated and results[0].iterations > 0
    assert all(0.0 <= r.quality <= 1.0 and 0.0 <= r.confidence <= 1.0 for r in results)
    assert all(r.timings.total > 0 for r in results[1:])
    bound = FAST.max_update_iterations
    assert all(r.iterations <= bound and r.updated == (r.iterations > 0) for r in results[1:])


def test_particles_path_runs():
    images, boxes = synthetic_sequence(frames=4)
    # Without the correlation filters and the scale search, whose boxes are no particle's
    # (whether the search rescales depends on float rounding, hence on the thread count),
    # and without the motion prior, under which the winner need not be the top score.
    config = FAST.replace(scoring='particles', cue_normalisation='patch', num_particles=200,
                          first_frame_iterations=30, correlation_refine=False,
                          scale_search=0.0, motion_prior=0.0)
    results = run(config, images, boxes[0])
    last = results[-1]
    assert last.particles.shape == (200, 4) and last.particle_scores.shape == (200,)
    best = int(np.argmax(last.particle_scores))
    assert np.allclose(last.particles[best], last.box, atol=1e-4)
    assert last.score == pytest.approx(float(last.particle_scores[best]), rel=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device on this machine')
def test_runs_on_cuda():
    images, boxes = synthetic_sequence(frames=10)
    tracker = DeepTracker(FAST, device='cuda', seed=0)
    tracker.initialize(images[0], boxes[0])
    result = None
    for image in images[1:]:
        result = tracker.track(image)
    assert tracker.device.type == 'cuda'
    assert iou_xywh(np.array(result.box), boxes[-1]) > 0.5


def test_dense_stride_two_is_the_even_lattice_of_stride_one():
    net = DeepTrackNet(preset('paper'))
    net.reset_parameters_with(torch.Generator().manual_seed(3))
    maps = torch.rand(3, 47, 50) * 10
    with torch.no_grad():
        full = net.dense_forward(maps)
        even = net.dense_forward(maps, stride=2)
    assert even.shape == (2, 8, 10)
    assert torch.allclose(even, full[:, ::2, ::2])


def test_window_first_maps_equal_the_first_layer_of_the_window():
    net = DeepTrackNet(preset('paper'))
    net.reset_parameters_with(torch.Generator().manual_seed(4))
    maps = torch.rand(3, 41, 44) * 10
    with torch.no_grad():
        _, first = net.dense_forward_with_first(maps)
        rows, cols = torch.tensor([0, 9, 5]), torch.tensor([12, 0, 7])
        sliced = net.window_first_maps(first, rows, cols)
        direct = net.first_layer(torch.stack([maps[:, r:r + 32, c:c + 32]
                                              for r, c in zip(rows.tolist(), cols.tolist())]))
    assert sliced.shape == (3, 36, 10, 10)
    assert torch.allclose(sliced, direct, atol=1e-5)


def test_map_estimate_adds_the_best_window_of_the_whole_map():
    """With map_estimate the best window of the dense map joins the particles, even where no
    particle landed; its box is the window it was scored at (the per-patch network on that
    box gives the same score)."""
    images, boxes = synthetic_sequence(frames=2)
    config = FAST.replace(map_estimate=True, first_frame_iterations=30)
    tracker = DeepTracker(config, device='cpu', seed=0)
    tracker.initialize(images[0], boxes[0])
    state = tracker.state
    # Three particles, all well away from the target: the map still holds every window.
    far = np.array([[5.0, 5.0, state.width, state.height]] * 3)
    frame = tracker.scorer.score(images[1], far, state.height, state.aspect)
    level = frame.levels[0]
    with_map = tracker.scorer.with_best_window(frame, lambda boxes, scores: scores)
    assert with_map.boxes.shape == (4, 4) and with_map.scores.shape == (4,)
    map_scores = deeptrack_score(level.output.flatten(1).T)
    assert float(with_map.scores[-1]) == pytest.approx(float(map_scores.max()), rel=1e-6)
    assert float(with_map.scores[-1]) > float(frame.scores.max())
    window = with_map.boxes[-1:]
    with torch.no_grad():
        direct = deeptrack_score(tracker.net(tracker.scorer.crop(with_map, window)).fused)
    assert float(direct[0]) == pytest.approx(float(with_map.scores[-1]), rel=1e-3, abs=1e-3)
    # The weighting decides: a prior that excludes everything but the top-left corner.
    corner = tracker.scorer.with_best_window(
        frame, lambda boxes, scores: torch.where(boxes[:, :2].sum(dim=1) == boxes[:, :2].sum(
            dim=1).min(), scores, torch.full_like(scores, -1e9)))
    assert torch.allclose(corner.boxes[-1, :2], corner.boxes[:, :2].min(dim=0).values)


def test_hard_negatives_are_the_best_windows_away_from_the_estimate():
    """hard_windows returns the top-scoring windows of the dense map among those with IoU
    <= iou_negative to the estimate, with the first-layer maps and outputs of those windows;
    with hard_negatives the tracker stores them as negatives every learned frame."""
    images, boxes = synthetic_sequence(frames=3)
    config = FAST.replace(hard_negatives=7, first_frame_iterations=30)
    tracker = DeepTracker(config, device='cpu', seed=0)
    tracker.initialize(images[0], boxes[0])
    state = tracker.state
    particles = np.array([[state.cx - state.width / 2 + dx, state.cy - state.height / 2,
                           state.width, state.height] for dx in (-30.0, 0.0, 30.0)])
    frame = tracker.scorer.score(images[1], particles, state.height, state.aspect)
    estimate = torch.tensor(boxes[1], dtype=torch.float32)
    hard_boxes, hard_maps, hard_fused = tracker.scorer.hard_windows(frame, estimate, 7, 0.3)
    assert hard_boxes.shape == (7, 4) and hard_fused.shape == (7, 2)
    assert hard_maps.shape[0] == 7 and hard_maps.shape[1:] == frame.levels[0].first.shape[1:2] \
        + (10, 10)
    hard_scores = deeptrack_score(hard_fused)
    assert bool((iou_torch(hard_boxes, estimate) <= 0.3).all())
    # No window allowed by the IoU limit scores above the weakest one returned.
    level = frame.levels[0]
    stride, out_w = config.dense_stride, level.output.shape[2]
    index = torch.arange(level.output.shape[1] * out_w)
    every = tracker.scorer._window_boxes(level.region, (index // out_w) * stride,
                                         (index % out_w) * stride, config.patch_size)
    allowed = deeptrack_score(level.output.flatten(1).T)[iou_torch(every, estimate) <= 0.3]
    assert float(hard_scores.min()) >= float(torch.topk(allowed, 7).values.min()) - 1e-6
    # The maps are the windows' own first-layer maps: the upper network gives their outputs.
    with torch.no_grad():
        again = tracker.net.forward_stage(hard_maps, 'first').fused
    assert torch.allclose(again, hard_fused, atol=1e-4)
    before = tracker.negatives.size
    assert tracker.track(images[1]).learned
    added = config.negatives_per_frame + config.wide_negatives + 7
    assert tracker.negatives.size == min(before + added, tracker.negatives.capacity)


def test_scale_search_penalty_and_update_rate():
    """The synthetic target grows by a quarter. The three-crop scale search changes the box by
    whole steps of scale_search (3 %); scale_update_rate 0.5 takes half of each step in log
    scale; a scale_penalty of 0.5 asks a changed scale to score twice as high, which a few per
    cent of size never does, so the box keeps its first size."""
    images, boxes = synthetic_sequence(frames=30)
    step = FAST.scale_search
    # The scale search alone: without the correlation filters (their scale filter replaces
    # it, and their sub-pixel moves add rounding noise to the size).
    search = FAST.replace(correlation_refine=False)

    def height_ratios(**changes):
        heights = np.array([r.box[3] for r in run(search.replace(**changes), images, boxes[0])])
        return heights, np.abs(np.log(heights[1:] / heights[:-1]))

    _, whole = height_ratios()
    assert whole.max() > 0.8 * np.log1p(step)
    _, halved = height_ratios(scale_update_rate=0.5)
    assert 0.3 * np.log1p(step) < halved.max() < 0.7 * np.log1p(step)
    # With the penalty no step is ever taken: the size moves only by the best particle's
    # own scale noise, well under a step per frame and within a step over the sequence.
    kept, kept_ratios = height_ratios(scale_penalty=0.5)
    assert kept_ratios.max() < 0.3 * np.log1p(step)
    assert np.allclose(kept, boxes[0][3], rtol=step)


def test_target_leaving_view_is_lost_then_found_again():
    """The target vanishes for ten frames (only background) and comes back elsewhere: the
    tracker must report lost with a low quality at once, learn nothing meanwhile, and lock on
    again when it reappears."""
    images, boxes = synthetic_sequence(frames=45)
    rng = np.random.default_rng(3)
    background = np.clip((_smooth_noise(rng, SIZE, 6) * 0.6 + 0.2) * 255, 0, 255)
    gone = range(25, 35)
    for t in gone:
        images[t] = background.astype(np.uint8)
    results = run(FAST, images, boxes[0])
    before = results[15:25]
    assert not any(r.lost for r in before)
    absent = results[25:35]
    assert all(r.lost for r in absent[2:]), [r.lost for r in absent]
    assert all(r.quality < FAST.low_quality for r in absent[2:])
    assert not any(r.learned or r.updated for r in absent[2:])
    back = results[38:]
    assert not any(r.lost for r in back)
    iou = iou_xywh(np.array([r.box for r in back]), boxes[38:])
    assert iou.mean() > 0.5, f'mean IoU after reappearing {iou.mean():.3f}'


def _twin_targets(frames=20, gap=36, seed=5):
    """A still target and an identical copy `gap` px to its right, with fresh sensor noise
    in every frame: both score alike, only where the target was tells them apart."""
    rng = np.random.default_rng(seed)
    background, target = _scene(rng, SIZE)
    images = []
    for _ in range(frames):
        image = background.copy()
        for x in (70, 70 + gap):
            image[55:95, x:x + 30] = target
        image += rng.normal(0.0, 3.0, image.shape)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images, (70.0, 55.0, 30.0, 40.0)


def test_motion_prior_keeps_the_target_against_an_identical_twin():
    """The shipped estimate is the maximum a posteriori window: with an identical copy of the
    target 1.8 search deviations away, it stays on the target in every frame, whatever the
    seed; the best score alone (Eq. 7, motion_prior 0) jumps to the twin. The correlation
    filters, which check a far jump where the target was, are off here so that the prior
    alone is tested."""
    images, box = _twin_targets()
    config = FAST.replace(correlation_refine=False)
    assert config.motion_prior > 0
    # Two seeds of three at least: which seed a chaotic tracker loses changes with the
    # machine's float rounding (seed 0 lost the target on an Intel Xeon, not on AMD EPYC).
    kept = []
    for seed in (0, 1, 2):
        results = run(config, images, box, seed=seed)
        iou = iou_xywh(np.array([r.box for r in results]), np.array([box] * len(results)))
        kept.append(bool(iou.min() > 0.5))
    assert sum(kept) >= 2, f'target kept on seeds 0, 1, 2: {kept}'
    results = run(config.replace(motion_prior=0.0), images, box, seed=0)
    iou = iou_xywh(np.array([r.box for r in results]), np.array([box] * len(results)))
    assert iou.min() < 0.1, 'without the prior the twin should win some frame'


def test_peak_mean_estimate_is_the_weighted_centre_of_the_best_peak():
    tracker = DeepTracker(FAST.replace(estimator='peak_mean', quality_v=0.5), device='cpu')
    particles = torch.tensor([[10.0, 10.0, 20.0, 20.0], [12.0, 10.0, 20.0, 20.0],
                              [12.0, 10.0, 20.0, 20.0], [60.0, 60.0, 20.0, 20.0],
                              [14.0, 10.0, 20.0, 20.0]])
    scores = torch.tensor([4.0, 3.0, 3.0, 3.9, 1.0])
    # floor 2.0; the far peak (60, 60) and the weak window (score 1) do not count; (12, 10)
    # counts once although two particles snapped onto it: weights 2 and 1
    box = tracker._estimate(particles, scores, best=0)
    assert box == pytest.approx(((10 * 2 + 12 * 1) / 3, 10.0, 20.0, 20.0))


def test_pool_sizes_are_bounded_by_the_configuration():
    images, boxes = synthetic_sequence(frames=4)
    config = FAST.replace(first_frame_iterations=5, positive_pool_size=3, negative_pool_size=40)
    tracker = DeepTracker(config, device='cpu', seed=0)
    assert tracker.pool_sizes() == {}
    tracker.initialize(images[0], boxes[0])
    for image in images[1:]:
        tracker.track(image)
    pools = tracker.pool_sizes()
    assert pools['negative'] == (40, 40)
    assert pools['positive'][1] == 6 and 2 <= pools['positive'][0] <= 6  # flips count too


def test_scale_samples_join_the_negative_pool_from_frame_one():
    images, boxes = synthetic_sequence(frames=3)
    plain = DeepTracker(FAST.replace(first_frame_iterations=5), device='cpu', seed=0)
    plain.initialize(images[0], boxes[0])
    scaled = DeepTracker(FAST.replace(first_frame_iterations=5, scale_samples=20),
                         device='cpu', seed=0)
    scaled.initialize(images[0], boxes[0])
    assert scaled.pool_sizes()['negative'][0] == plain.pool_sizes()['negative'][0] + 20
    for image in images[1:]:
        result = scaled.track(image)
        assert np.all(np.isfinite(result.box))


@pytest.mark.parametrize('scoring', ['dense', 'particles'])
def test_background_selection_fills_the_negative_pool_with_negatives_only(scoring):
    """The `particles` reading stores uniformly picked particles in the negative pool, and
    those that overlap the target by more than 0.5 are labelled positive there (a few here,
    around a 40 x 30 target with a 20-px search; most around a target of 100 px, which the
    same search hardly leaves). `background` stores only samples with IoU <= iou_negative, still
    negatives_per_frame of them per learned frame (the shortfall drawn around the
    estimate), on both scoring paths. Every frame must be learned for the pool to be
    counted, so neither the confidence nor the filters' peak may refuse one here (on the
    dense path the filters peak at 0.42 of frame 2's peak on frame 3 with `background`)."""
    images, boxes = synthetic_sequence(frames=3)
    base = FAST.replace(scoring=scoring, first_frame_iterations=5, num_particles=300,
                        negatives_per_frame=60, camera_motion_side=0, lost_score=0.0,
                        update_min_reliability=0.0, correlation_learn_peak=0.0)

    def pool_after(selection):
        tracker = DeepTracker(base.replace(negative_selection=selection), device='cpu', seed=0)
        tracker.initialize(images[0], boxes[0])
        sizes = [tracker.negatives.size]
        for image in images[1:]:
            assert tracker.track(image).learned
            sizes.append(tracker.negatives.size)
        return tracker.negatives.labels[:tracker.negatives.size], np.diff(sizes)

    labels, added = pool_after('background')
    assert bool((labels == 0).all())
    assert np.all(added == base.negatives_per_frame + base.wide_negatives)
    labels, _ = pool_after('particles')
    assert float(labels.sum()) > 0
    with pytest.raises(ValueError, match='negative_selection'):
        TrackerConfig(negative_selection='hard')


@pytest.mark.parametrize('gain', [0.0, 1.0])
def test_particles_are_drawn_around_the_velocity_prediction(gain):
    images, boxes = synthetic_sequence(frames=5)
    # Without camera motion, whose second cloud would go where the image shift carried it.
    results = run(FAST.replace(first_frame_iterations=10, velocity_gain=gain,
                               camera_motion_side=0), images, boxes[0])
    centres = np.array([[r.box[0] + r.box[2] / 2, r.box[1] + r.box[3] / 2] for r in results])
    for index in range(2, len(results)):
        if results[index - 1].lost or results[index - 2].lost:
            continue
        particles = results[index].particles
        mean = (particles[:, :2] + particles[:, 2:] / 2).mean(axis=0)
        expected = centres[index - 1] + gain * (centres[index - 1] - centres[index - 2])
        np.testing.assert_allclose(mean, expected, atol=1.5)


def _fast_target(speed, frames, seed=4, size=(200, 520)):
    """A textured target crossing a textured background at `speed` px per frame."""
    background, target = _scene(np.random.default_rng(seed), size)
    images, boxes = [], []
    for t in range(frames):
        x0 = int(30 + speed * t)
        image = background.copy()
        image[80:120, x0:x0 + 30] = target
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        boxes.append((float(x0), 80.0, 30.0, 40.0))
    return images, np.array(boxes)


def test_the_search_widens_with_the_targets_speed():
    # 45 px a frame is 2.25 times the fixed deviation min(20, 0.5 h) = 20 px of a 40-px target
    # (the capped search of the paper's form; the shipped 0.3 h would be 12 px, which a
    # target at 2.5 deviations a frame does not outrun on this scene).
    searched = FAST.replace(sigma_xy_max=20.0, sigma_xy_height_fraction=0.5)
    images, boxes = _fast_target(45.0, frames=10)
    fixed = run(searched.replace(search_speed_gain=0.0), images, boxes[0])
    adaptive = run(searched.replace(search_speed_gain=1.0), images, boxes[0])
    spread = [float(np.std(r.particles[:, 0])) for r in adaptive[2:]]
    # One cloud (the background is still, so no camera motion): its deviation is the speed.
    np.testing.assert_allclose(spread, 45.0, rtol=0.1)
    assert min(iou_xywh(r.box, b) for r, b in zip(adaptive, boxes)) > 0.5
    # The fixed search keeps its deviation and the target outruns it.
    np.testing.assert_allclose(float(np.std(fixed[2].particles[:, 0])), 20.0, rtol=0.1)
    assert min(iou_xywh(r.box, b) for r, b in zip(fixed, boxes)) < 0.5


def test_the_shipped_search_is_the_same_in_object_sizes_at_twice_the_resolution():
    """A camera of twice the resolution doubles the target's height and its motion in pixels;
    `best`'s particle cloud doubles with them (0.3 h, no cap in pixels)."""
    images, boxes = synthetic_sequence(frames=2)
    doubled = [np.repeat(np.repeat(image, 2, axis=0), 2, axis=1) for image in images]
    recorded = run(FAST, images, boxes[0])[1]
    sharper = run(FAST, doubled, boxes[0] * 2.0)[1]

    def deviation(result):
        centres = result.particles[:, :2] + result.particles[:, 2:] / 2
        return np.std(centres, axis=0)

    height = boxes[0][3]
    np.testing.assert_allclose(deviation(recorded), 0.3 * height, rtol=0.1)
    np.testing.assert_allclose(deviation(sharper), 2 * 0.3 * height, rtol=0.1)


def test_on_estimate_reports_the_box_before_the_update():
    images, boxes = synthetic_sequence(frames=4)
    tracker = DeepTracker(FAST.replace(first_frame_iterations=10), device='cpu', seed=0)
    tracker.initialize(images[0], boxes[0])
    pools_at_estimate = []

    def on_estimate(early):
        pools_at_estimate.append((early, tracker.pool_sizes()['negative'][0]))

    for image in images[1:]:
        before = len(pools_at_estimate)
        negatives_before = tracker.pool_sizes()['negative'][0]
        final = tracker.track(image, on_estimate=on_estimate)
        assert len(pools_at_estimate) == before + 1, 'called exactly once per frame'
        early, negatives_then = pools_at_estimate[-1]
        # Called before this frame's samples were stored and before any update ran.
        assert negatives_then == negatives_before
        assert not early.updated and early.iterations == 0 and early.timings.train == 0.0
        assert early.box == final.box and early.frame_index == final.frame_index
        assert (early.score, early.confidence, early.quality, early.lost) == (
            final.score, final.confidence, final.quality, final.lost)


def test_a_target_is_not_lost_before_the_network_has_recognised_it_once():
    # Right after frame 1 the network's fusion layer is cut to 0.05: its confidence on the
    # next frames falls below lost_score, as when a network trained on one frame does not
    # generalise to the next. Without lost_needs_recognition every frame is lost, nothing is
    # learned and the confidence stays where it fell. With it the frames are tracked and
    # learned, and the confidence climbs back. The filters neither follow nor teach here, so
    # lost is the network's word alone.
    images, boxes = synthetic_sequence(frames=12)
    config = FAST.replace(camera_motion_side=0, correlation_follow_peak=0.0,
                          correlation_teach_peak=0.0)

    def run_weak(needs_recognition):
        tracker = DeepTracker(config.replace(lost_needs_recognition=needs_recognition),
                              device='cpu', seed=0)
        tracker.initialize(images[0], boxes[0])
        with torch.no_grad():
            tracker.net.fusion.weight.mul_(0.05)
            tracker.net.fusion.bias.mul_(0.05)
        return [tracker.track(image) for image in images[1:]]

    frozen = run_weak(False)
    assert frozen[0].confidence < config.lost_score
    assert all(r.lost and not r.learned for r in frozen)
    recovering = run_weak(True)
    assert recovering[0].confidence < config.lost_score
    assert not any(r.lost for r in recovering)
    assert all(r.learned for r in recovering[:3])
    assert recovering[-1].confidence > 2.0 * max(r.confidence for r in frozen)
    assert iou_xywh(recovering[-1].box, boxes[-1]) > 0.5


def test_the_first_frame_trains_down_to_its_own_epsilon():
    # The paper trains frame 1 until the mini-batch loss is below lazy_epsilon; with
    # first_frame_epsilon the same training runs on, over the same batches, to that lower loss.
    images, boxes = synthetic_sequence(frames=1)
    config = FAST.replace(first_frame_iterations=200)
    assert config.first_frame_epsilon < config.lazy_epsilon
    as_written = DeepTracker(config.replace(first_frame_epsilon=0.0), device='cpu',
                             seed=0).initialize(images[0], boxes[0])
    tighter = DeepTracker(config, device='cpu', seed=0).initialize(images[0], boxes[0])
    assert config.first_frame_epsilon <= as_written.loss < config.lazy_epsilon
    assert tighter.loss < config.first_frame_epsilon
    assert as_written.iterations < tighter.iterations < config.first_frame_iterations


def test_a_recognised_target_is_lost_again_when_its_confidence_collapses():
    # The exception ends with the first frame the network recognises: after it, a frame the
    # network no longer scores (its fusion layer zeroed) is lost as always.
    images, boxes = synthetic_sequence(frames=6)
    config = FAST.replace(camera_motion_side=0, correlation_follow_peak=0.0,
                          correlation_teach_peak=0.0, lost_needs_recognition=True)
    tracker = DeepTracker(config, device='cpu', seed=0)
    tracker.initialize(images[0], boxes[0])
    assert all(tracker.track(image).confidence >= config.lost_score for image in images[1:3])
    with torch.no_grad():
        tracker.net.fusion.weight.zero_()
        tracker.net.fusion.bias.zero_()
    assert all(tracker.track(image).lost for image in images[3:])


def test_dense_maps_are_padded_to_a_few_sizes():
    """Regions of every size map onto multiples of the bucket, so the CPU's convolution
    set-up is reused across frames; maps already of such a size are passed as they are."""
    from deeptrack_ros.core.network import _DENSE_BUCKET, _padded_to_bucket

    maps = torch.rand(3, 45, 40)
    padded = _padded_to_bucket(maps)
    assert padded.shape[1] % _DENSE_BUCKET == 0 and padded.shape[2] % _DENSE_BUCKET == 0
    assert padded.shape[1] - 45 < _DENSE_BUCKET and padded.shape[2] - 40 < _DENSE_BUCKET
    assert torch.equal(padded[:, :45, :40], maps)
    assert float(padded[:, 45:].abs().sum()) == 0.0
    assert float(padded[:, :, 40:].abs().sum()) == 0.0
    exact = torch.rand(3, 2 * _DENSE_BUCKET, _DENSE_BUCKET)
    assert _padded_to_bucket(exact) is exact


def first_frame_confidence(config, first_image, box, views):
    """The mean confidence a tracker initialised on `first_image` at `box` gives the same box
    in each of `views` (other looks of the first image), and how many positives frame 1
    stored."""
    tracker = DeepTracker(config, device='cpu', seed=0)
    tracker.initialize(first_image, box)
    one = np.asarray([box], dtype=np.float64)
    patches = torch.cat([tracker.scorer.crop_around(view, one, box) for view in views])
    with torch.no_grad():
        scores = deeptrack_score(tracker.net(patches).fused)
    return float(torch.clamp(scores / math.e, 0, 1).mean()), tracker.pool_sizes()['positive'][0]


def test_blurred_first_frame_positives_teach_the_blurred_look_of_the_target():
    from deeptrack_ros.core.augment import blurred_window

    images, boxes = synthetic_sequence(frames=1)
    box = tuple(float(v) for v in boxes[0])
    blurred = [blurred_window(images[0], box, 0.25 * min(box[2:]), angle)
               for angle in (0.0, math.pi / 3, 2 * math.pi / 3)]  # smeared as if moving fast
    with_copies, stored = first_frame_confidence(FAST.replace(first_frame_blur_positives=8),
                                                 images[0], box, blurred)
    without, stored_alone = first_frame_confidence(FAST.replace(first_frame_blur_positives=0),
                                                   images[0], box, blurred)
    assert (stored, stored_alone) == (2 * 9, 2)  # each with its mirror
    assert with_copies > without + 0.1  # measured 0.64 against 0.13


def test_rotated_first_frame_positives_teach_the_rotated_look_of_the_target():
    from deeptrack_ros.core.augment import rotated_window

    images, boxes = synthetic_sequence(frames=1)
    box = tuple(float(v) for v in boxes[0])
    turned = [rotated_window(images[0], box, degrees) for degrees in (-25.0, 12.0, 28.0)]
    config = FAST.replace(first_frame_rotation_degrees=30.0)
    with_copies, stored = first_frame_confidence(
        config.replace(first_frame_rotation_positives=8), images[0], box, turned)
    without, stored_alone = first_frame_confidence(
        config.replace(first_frame_rotation_positives=0), images[0], box, turned)
    assert (stored, stored_alone) == (2 * 9, 2)  # each with its mirror
    assert with_copies > without + 0.1  # measured 0.69 against 0.24


def test_the_anchor_keeps_the_first_box_and_its_mirror_beside_blurred_positives():
    images, boxes = synthetic_sequence(frames=1)
    box = tuple(float(v) for v in boxes[0])
    config = FAST.replace(first_frame_iterations=5, anchor_positives=2,
                          first_frame_blur_positives=3, online_first_layer=True)
    tracker = DeepTracker(config, device='cpu', seed=0)
    tracker.initialize(images[0], box)
    anchor = tracker.learner.anchor.patches
    stored = tracker.positives.gather(np.arange(8))[0]  # the box, 3 blurred, then mirrors
    assert anchor.shape[0] == 2
    torch.testing.assert_close(anchor[0], stored[0])
    torch.testing.assert_close(anchor[1], stored[4])
    # the pair is one patch and its mirror (slot 1 would be the first blurred copy)
    torch.testing.assert_close(anchor[1], anchor[0].flip(-1))
    assert not torch.allclose(stored[1], stored[0])
