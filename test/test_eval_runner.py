"""The one-pass harness with trivial trackers and real OpenCV peers, and the reports."""

import csv
import itertools
import json

import numpy as np
import pytest

from deeptrack_ros.eval.errors import EvalError
from deeptrack_ros.eval.metrics import score_sequence
from deeptrack_ros.eval.progress import Progress
from deeptrack_ros.eval.report import (CSV_COLUMNS, Evaluation, format_table, plot_curves,
                                       write_frames_csv, write_summary)
from deeptrack_ros.eval.runner import check_init_box, run_sequence, track_frames
from deeptrack_ros.eval.sequences import (gray_sequence, load_folder, read_frame,
                                          rescaled_sequence)
from deeptrack_ros.eval.synthetic import render_frames, write_otb_sequence
from deeptrack_ros.eval.trackers import (IdentityTracker, OpenCVTracker, Tracker, TrackerSpec,
                                         opencv_box, parse_tracker_list)


class GapTracker(Tracker):
    """Moves one pixel right per frame but has no box on every third frame."""

    name = 'gap'

    def init(self, image, box):
        self.box, self.calls = box, 0

    def update(self, image):
        self.calls += 1
        x, y, w, h = self.box
        self.box = (x + 1, y, w, h)
        return None if self.calls % 3 == 0 else self.box


@pytest.fixture(scope='module')
def sequence(tmp_path_factory):
    folder = tmp_path_factory.mktemp('otb') / 'Synth'
    write_otb_sequence(folder, count=15)
    return load_folder(folder)[0]


def test_identity_tracker_reports_init_box(sequence):
    run = run_sequence(IdentityTracker(), sequence)
    assert len(run.records) == len(sequence)
    assert (run.boxes == np.asarray(sequence.init_box)).all()
    assert all(r.reported for r in run.records)


class ShapeRecorder(Tracker):
    """Records the images' shapes and the initial box; keeps reporting that box."""

    name = 'shapes'

    def init(self, image, box):
        self.box, self.shapes, self.images = box, [image.shape], [image]

    def update(self, image):
        self.shapes.append(image.shape)
        self.images.append(image)
        return self.box


@pytest.mark.parametrize('scale', [2.0, 0.5])
def test_a_rescaled_sequence_is_tracked_on_resized_images_and_scored_in_recorded_pixels(
        sequence, scale):
    tracker = ShapeRecorder()
    run = run_sequence(tracker, rescaled_sequence(sequence, scale))
    height, width = 90, 120  # the synthetic frames' size
    assert tracker.shapes == [(int(height * scale), int(width * scale), 3)] * len(sequence)
    assert tracker.box == pytest.approx(tuple(v * scale for v in sequence.init_box))
    np.testing.assert_allclose(run.boxes, np.tile(sequence.init_box, (len(sequence), 1)))


def test_a_gray_sequence_shows_the_tracker_gray_images_of_the_same_luma(sequence):
    tracker = ShapeRecorder()
    run_sequence(tracker, gray_sequence(sequence))
    colour = read_frame(sequence.frames[4]).astype(np.float64)
    image = tracker.images[4]
    assert image.shape == colour.shape and image.dtype == np.uint8
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    luma = colour @ np.array([0.299, 0.587, 0.114])
    assert np.abs(image[..., 0] - luma).max() <= 1.0


def test_csrt_on_enlarged_images_still_tracks_the_synthetic_target(sequence):
    run = run_sequence(OpenCVTracker('csrt'), rescaled_sequence(sequence, 2.0))
    errors = np.abs(run.boxes - sequence.groundtruth)
    assert errors.max() <= 3.0  # in the recorded pixels: the boxes were mapped back


def test_missing_box_keeps_previous():
    frames, _ = render_frames(7)
    records = list(track_frames(GapTracker(), frames, (10.0, 10.0, 5.0, 5.0)))
    xs = [r.box[0] for r in records]
    # frames 3 and 6 have no box: the previous one (x = 12, then 15) is kept
    assert xs == [10, 11, 12, 12, 14, 15, 15]
    assert [r.reported for r in records] == [True, True, True, False, True, True, False]


def test_only_tracker_calls_are_timed():
    ticks = itertools.count()
    frames, _ = render_frames(5)
    records = list(track_frames(IdentityTracker(), frames, (1, 1, 4, 4),
                                clock=lambda: float(next(ticks))))
    assert [r.seconds for r in records] == [1.0] * 5  # one tick inside each call, none outside
    from deeptrack_ros.eval.runner import RunResult
    run = RunResult('identity', 's', records)
    assert run.init_seconds == 1.0 and run.track_seconds == 4.0 and run.fps == 1.0


def test_csrt_tracks_the_synthetic_target(sequence):
    run = run_sequence(OpenCVTracker('csrt'), sequence)
    score = score_sequence(run.boxes, sequence.groundtruth)
    assert score.precision20 == 1.0
    assert score.success_at(0.5) == 1.0
    assert run.fps > 0


@pytest.mark.parametrize('kind', ['kcf', 'mil'])
def test_other_peers_run(sequence, kind):
    run = run_sequence(OpenCVTracker(kind), sequence)
    assert run.boxes.shape == (len(sequence), 4) and np.isfinite(run.boxes).all()
    assert score_sequence(run.boxes, sequence.groundtruth).precision20 > 0.5


def test_opencv_box_rounds_corners():
    assert opencv_box((10.4, 20.6, 30.2, 40.0)) == (10, 21, 31, 40)
    assert opencv_box((0.0, 0.0, 0.2, 0.2)) == (0, 0, 1, 1)


def test_tracker_names():
    assert parse_tracker_list('csrt, KCF') == ['csrt', 'kcf']
    with pytest.raises(EvalError, match='unknown foo'):
        parse_tracker_list('csrt,foo')
    with pytest.raises(EvalError, match='repeated'):
        parse_tracker_list('csrt,csrt')
    assert isinstance(TrackerSpec('identity').build(), IdentityTracker)


def test_init_box_checks():
    check_init_box((-5, -5, 10, 10), (20, 20, 3), 'x')  # partly inside is fine
    with pytest.raises(EvalError, match='src: initial box .* outside the 20x10 image'):
        check_init_box((25, 0, 5, 5), (10, 20, 3), 'src')
    with pytest.raises(EvalError, match='empty'):
        check_init_box((1, 1, 0, 5), (10, 20, 3), 'src')


def test_reports(sequence, tmp_path):
    evaluation = Evaluation(device='cpu', seed=7)
    runs = {}
    for tracker in (IdentityTracker(), OpenCVTracker('csrt')):
        run = run_sequence(tracker, sequence)
        runs[tracker.name] = run
        evaluation.add(tracker.name, sequence.name,
                       score_sequence(run.boxes, sequence.groundtruth), run)
    write_summary(tmp_path / 'summary.json', evaluation)
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert set(summary) == {'trackers', 'device', 'seed'} and summary['seed'] == 7
    keys = {'precision20', 'success_auc', 'success50', 'success60', 'fps', 'frames'}
    for name in ('identity', 'csrt'):
        entry = summary['trackers'][name]
        assert set(entry) == {'sequences', 'mean'}
        assert set(entry['sequences']['Synth']) == keys and set(entry['mean']) == keys
        assert entry['mean']['frames'] == len(sequence)
        assert isinstance(entry['mean']['frames'], int)
    assert summary['trackers']['csrt']['mean']['precision20'] == 1.0

    write_frames_csv(tmp_path / 'csrt' / 'Synth.csv', runs['csrt'])
    with (tmp_path / 'csrt' / 'Synth.csv').open() as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(sequence) + 1
    assert rows[1][0] == '0' and rows[1][5:] == ['', '', '']  # peers: no score / quality
    assert [float(v) for v in rows[1][1:5]] == list(sequence.init_box)

    plot_curves(tmp_path, evaluation)
    for name in ('precision.png', 'success.png'):
        assert (tmp_path / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    table = format_table(evaluation)
    assert table.splitlines()[0].split() == ['tracker', 'P@20', 'AUC', 'SR@0.5', 'SR@0.6', 'fps']
    assert table.splitlines()[3].startswith('csrt') and ' 1.000 ' in table.splitlines()[3]


def test_progress_is_quiet_when_disabled(sequence, capsys):
    import io
    stream = io.StringIO()
    run_sequence(IdentityTracker(), sequence, Progress(stream, enabled=False))
    assert stream.getvalue() == ''
    run_sequence(IdentityTracker(), sequence, Progress(stream))
    assert stream.getvalue().startswith('identity Synth: 15/15 frames')


def test_mil_does_not_depend_on_what_ran_before(sequence):
    """MIL draws from process-global random states; the adapter resets them on init."""
    first = run_sequence(OpenCVTracker('mil'), sequence).boxes
    run_sequence(OpenCVTracker('mil', seed=5), sequence)  # consumes the global states
    again = run_sequence(OpenCVTracker('mil'), sequence).boxes
    np.testing.assert_array_equal(first, again)


def test_plots_draw_a_seeded_tracker_once_as_the_mean_of_its_runs(sequence):
    evaluation = Evaluation(device='cpu', seeds=[0, 1],
                            seed_runs={'deeptrack': ['deeptrack-seed0', 'deeptrack-seed1']})
    for name, tracker in (('deeptrack-seed0', IdentityTracker()),
                          ('deeptrack-seed1', OpenCVTracker('csrt')),
                          ('kcf', OpenCVTracker('kcf'))):
        run = run_sequence(tracker, sequence)
        evaluation.add(name, sequence.name, score_sequence(run.boxes, sequence.groundtruth), run)
    curves = evaluation.plotted_curves()
    assert list(curves) == ['deeptrack (2 seeds)', 'kcf']
    for which in (0, 1):
        expected = (evaluation.curves('deeptrack-seed0')[which]
                    + evaluation.curves('deeptrack-seed1')[which]) / 2
        np.testing.assert_allclose(curves['deeptrack (2 seeds)'][which], expected)
    np.testing.assert_array_equal(curves['kcf'][0], evaluation.curves('kcf')[0])
