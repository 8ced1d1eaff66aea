"""Bags: image decoding, otb2bag -> bag round trips in mcap and sqlite3, with real rosbags files.

The round trips use the `identity` tracker (`--tracker identity`) so they do not depend on the
core's speed; one more round trip runs the real DeepTracker when the core can be imported.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from deeptrack_ros.eval import rosmsgs
from deeptrack_ros.eval.bags import OTB_GT_TOPIC, OTB_IMAGE_TOPIC, BagReader, BagWriter
from deeptrack_ros.eval.cli import main
from deeptrack_ros.eval.errors import EvalError
from deeptrack_ros.eval.images import decode_compressed, decode_image
from deeptrack_ros.eval.synthetic import write_otb_sequence

STORAGES = ['mcap', 'sqlite3']


def _image_message(pixels, encoding, step=None, big_endian=0):
    height, width = pixels.shape[:2]
    row = pixels.reshape(height, -1).view(np.uint8)
    step = step or row.shape[1]
    data = np.zeros((height, step), dtype=np.uint8)
    data[:, :row.shape[1]] = row
    return rosmsgs.build_message(rosmsgs.IMAGE, {
        'header': rosmsgs.make_header(5, 'cam'), 'height': height, 'width': width,
        'encoding': encoding, 'is_bigendian': big_endian, 'step': step,
        'data': data.reshape(-1)})


def test_decode_image_encodings():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    assert (decode_image(_image_message(rgb, 'rgb8')) == rgb).all()
    assert (decode_image(_image_message(rgb, 'rgb8', step=17)) == rgb).all()  # padded rows
    assert (decode_image(_image_message(rgb[:, :, ::-1].copy(), 'bgr8')) == rgb).all()
    rgba = np.concatenate([rgb, np.full((4, 5, 1), 9, np.uint8)], axis=2)
    assert (decode_image(_image_message(rgba, 'rgba8')) == rgb).all()
    bgra = np.concatenate([rgb[:, :, ::-1], np.full((4, 5, 1), 9, np.uint8)], axis=2)
    assert (decode_image(_image_message(bgra, 'bgra8')) == rgb).all()
    gray = rgb[:, :, 0].copy()
    assert (decode_image(_image_message(gray, 'mono8')) == gray[:, :, None]).all()
    deep = gray.astype(np.uint16) * 256 + 7
    assert (decode_image(_image_message(deep.astype('<u2'), 'mono16'))[:, :, 1] == gray).all()
    assert (decode_image(_image_message(deep.astype('>u2'), 'mono16', big_endian=1))[:, :, 2]
            == gray).all()
    with pytest.raises(EvalError, match="unsupported image encoding 'yuv422'"):
        decode_image(_image_message(gray, 'yuv422'))
    with pytest.raises(EvalError, match='does not hold'):
        message = _image_message(rgb, 'rgb8')
        message.height = 40
        decode_image(message)


def test_decode_compressed():
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, :, 0] = 200
    ok, png = cv2.imencode('.png', rgb[:, :, ::-1])
    message = rosmsgs.build_message(rosmsgs.COMPRESSED_IMAGE, {'format': 'png', 'data': png})
    assert (decode_compressed(message) == rgb).all()
    message = rosmsgs.build_message(rosmsgs.COMPRESSED_IMAGE, {'format': 'jpeg', 'data': b'xx'})
    with pytest.raises(EvalError, match='cannot decode'):
        decode_compressed(message)


def test_detection_box_round_trip():
    header = rosmsgs.make_header(1_500_000_000_123, 'cam')
    message = rosmsgs.detection(header, (10.0, 20.0, 30.0, 40.0), 0.7)
    assert message.bbox.center.position.x == 25.0 and message.bbox.size_y == 40.0
    assert message.results[0].hypothesis.score == 0.7
    assert rosmsgs.detection_box(message) == (10.0, 20.0, 30.0, 40.0)
    assert rosmsgs.stamp_ns(message.header) == 1_500_000_000_123


def _read_bag(path):
    """{topic: [(log ns, message)]} of a whole bag, read back with rosbags."""
    store = rosmsgs.typestore()
    out = {}
    with BagReader(path) as reader:
        for conn, log_ns, raw in reader._reader.messages():
            out.setdefault(conn.topic, []).append(
                (log_ns, store.deserialize_cdr(raw, conn.msgtype)))
    return out


@pytest.fixture(scope='module')
def sequence_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('seq') / 'Synth'
    write_otb_sequence(folder, count=10)
    return folder


@pytest.mark.parametrize('storage', STORAGES)
def test_otb2bag_then_bag_round_trip(sequence_dir, tmp_path, storage, capsys):
    bag = tmp_path / 'synth'
    assert main(['otb2bag', str(sequence_dir), str(bag), '--storage', storage,
                 '--fps', '10', '--quiet']) == 0
    suffix = '.mcap' if storage == 'mcap' else '.db3'
    assert (bag / 'metadata.yaml').is_file() and (bag / f'synth{suffix}').is_file()
    source = _read_bag(bag)
    images = source[OTB_IMAGE_TOPIC]
    assert len(images) == 10 and len(source[OTB_GT_TOPIC]) == 10
    stamps = [rosmsgs.stamp_ns(m.header) for _, m in images]
    assert np.diff(stamps).tolist() == [100_000_000] * 9
    assert images[0][1].encoding == 'rgb8' and images[0][1].header.frame_id == 'camera'

    out = tmp_path / 'out'
    assert main(['bag', str(bag), '--image-topic', OTB_IMAGE_TOPIC, '--init-topic',
                 OTB_GT_TOPIC, '--gt-topic', OTB_GT_TOPIC, '--tracker', 'identity',
                 '--out', str(out), '--quiet']) == 0
    assert 'identity' in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        'bag', 'identity', 'precision.png', 'success.png', 'summary.json']
    result = _read_bag(out / 'bag')
    assert (out / 'bag' / f'bag{suffix}').is_file()  # same storage as the input
    image_stamps = [rosmsgs.stamp_ns(m.header) for _, m in result[OTB_IMAGE_TOPIC]]
    assert image_stamps == stamps
    assert [bytes(m.data) for _, m in result[OTB_IMAGE_TOPIC]] == \
        [bytes(m.data) for _, m in images]
    for topic in ('/deeptrack/detection', '/deeptrack/status'):
        assert [rosmsgs.stamp_ns(m.header) for _, m in result[topic]] == stamps
        assert [t for t, _ in result[topic]] == [t for t, _ in images]
        assert all(m.header.frame_id == 'camera' for _, m in result[topic])
    gt_box = rosmsgs.detection_box(source[OTB_GT_TOPIC][0][1])
    assert all(rosmsgs.detection_box(m) == gt_box for _, m in result['/deeptrack/detection'])
    status = result['/deeptrack/status'][-1][1]
    assert status.state == rosmsgs.constant(rosmsgs.STATUS, 'STATE_TRACKING')
    assert status.frames_processed == 10 and status.track_id == '1'
    summary = json.loads((out / 'summary.json').read_text())
    entry = summary['trackers']['identity']['sequences']['synth']
    assert entry['frames'] == 10 and entry['precision20'] < 1.0


def test_bag_with_init_box_gt_file_and_storage_override(sequence_dir, tmp_path):
    bag = tmp_path / 'synth'
    assert main(['otb2bag', str(sequence_dir), str(bag), '--storage', 'sqlite3',
                 '--quiet']) == 0
    out = tmp_path / 'out'
    x, y, w, h = np.loadtxt(sequence_dir / 'groundtruth_rect.txt', delimiter=',')[0]
    assert main(['bag', str(bag / 'synth.db3'), '--image-topic', OTB_IMAGE_TOPIC,
                 '--init-box', f'{x - 1},{y - 1},{w},{h}', '--gt-file',
                 str(sequence_dir / 'groundtruth_rect.txt'), '--tracker', 'csrt',
                 '--storage', 'mcap', '--out', str(out), '--quiet']) == 0
    assert (out / 'bag' / 'bag.mcap').is_file()
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['trackers']['csrt']['mean']['precision20'] == 1.0
    assert len(_read_bag(out / 'bag')['/deeptrack/detection']) == 10


def test_init_topic_starts_at_its_stamp(sequence_dir, tmp_path):
    """Images before the init detection are copied but get no detection."""
    bag = tmp_path / 'late'
    with BagWriter(bag, 'mcap') as writer:
        writer.add_topic('/img', rosmsgs.IMAGE)
        writer.add_topic('/init', rosmsgs.DETECTION)
        frame = np.zeros((30, 40, 3), np.uint8)
        for i in range(5):
            header = rosmsgs.make_header(1000 + i, 'cam')
            fields = {'header': header, 'height': 30, 'width': 40, 'encoding': 'bgr8',
                      'is_bigendian': 0, 'step': 120, 'data': frame.reshape(-1)}
            writer.write('/img', 1000 + i, rosmsgs.build_message(rosmsgs.IMAGE, fields))
        writer.write('/init', 1002, rosmsgs.detection(rosmsgs.make_header(1002, 'cam'),
                                                      (5, 5, 10, 10), 1.0))
    out = tmp_path / 'out'
    assert main(['bag', str(bag), '--image-topic', '/img', '--init-topic', '/init',
                 '--tracker', 'identity', '--out', str(out), '--quiet']) == 0
    result = _read_bag(out / 'bag')
    assert len(result['/img']) == 5
    assert [rosmsgs.stamp_ns(m.header) for _, m in result['/deeptrack/detection']] == \
        [1002, 1003, 1004]
    assert not (out / 'summary.json').exists()  # no ground truth, no metrics


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_bag_bad_inputs(sequence_dir, tmp_path, capsys):
    bag = tmp_path / 'synth'
    assert main(['otb2bag', str(sequence_dir), str(bag), '--quiet']) == 0
    capsys.readouterr()
    out = tmp_path / 'out'
    common = ['--tracker', 'identity', '--out', str(out), '--quiet']
    assert main(['bag', str(bag), '--image-topic', '/nope', '--init-box', '1,1,5,5',
                 *common]) == 2
    assert "no topic '/nope'" in _error_line(capsys)
    assert main(['bag', str(bag), '--image-topic', OTB_IMAGE_TOPIC, '--init-box',
                 '500,500,5,5', *common]) == 2
    assert 'outside the 120x90 image' in _error_line(capsys)
    assert main(['bag', str(bag), '--image-topic', OTB_IMAGE_TOPIC, '--init-box', '1,2,x',
                 *common]) == 2
    assert '--init-box' in _error_line(capsys)
    assert main(['bag', str(bag), '--image-topic', OTB_IMAGE_TOPIC, '--init-topic',
                 OTB_IMAGE_TOPIC, *common]) == 2
    assert 'carries sensor_msgs/msg/Image' in _error_line(capsys)
    assert main(['bag', str(tmp_path / 'missing'), '--image-topic', OTB_IMAGE_TOPIC,
                 '--init-box', '1,1,5,5', *common]) == 2
    assert 'missing: no such bag' in _error_line(capsys)
    assert main(['otb2bag', str(tmp_path / 'nowhere'), str(tmp_path / 'b2'), '--quiet']) == 2
    assert 'nowhere: no such folder' in _error_line(capsys)
    assert not out.exists() and not (tmp_path / 'b2').exists()
    assert not [p for p in tmp_path.iterdir() if 'partial' in p.name]


def test_missing_topic_message_names_bag(sequence_dir, tmp_path, capsys):
    bag = tmp_path / 'synth'
    assert main(['otb2bag', str(sequence_dir), str(bag), '--quiet']) == 0
    capsys.readouterr()
    assert main(['bag', str(bag), '--image-topic', '/nope', '--init-box', '1,1,5,5',
                 '--tracker', 'identity', '--out', str(tmp_path / 'o'), '--quiet']) == 2
    line = _error_line(capsys)
    assert line.startswith(f'deeptrack-eval: error: {bag}: no topic ')
    assert OTB_IMAGE_TOPIC in line


def _core_importable():
    try:
        from deeptrack_ros.core import DeepTracker  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _core_importable(), reason='DeepTrack core not importable')
def test_deeptrack_round_trip(tmp_path):
    """The real DeepTracker on 10 small frames, made cheap through --set overrides."""
    folder = tmp_path / 'Small'
    write_otb_sequence(folder, count=10, size=(80, 60))
    bag = tmp_path / 'small'
    assert main(['otb2bag', str(folder), str(bag), '--quiet']) == 0
    out = tmp_path / 'out'
    cheap = ['num_particles=64', 'first_frame_iterations=5', 'max_update_iterations=2',
             'negatives_per_frame=16', 'batch_negatives=16', 'batch_positives=4']
    args = ['bag', str(bag), '--image-topic', OTB_IMAGE_TOPIC, '--init-topic', OTB_GT_TOPIC,
            '--gt-topic', OTB_GT_TOPIC, '--device', 'cpu', '--seed', '3', '--out', str(out),
            '--quiet']
    for item in cheap:
        args += ['--set', item]
    assert main(args) == 0
    result = _read_bag(out / 'bag')
    stamps = [rosmsgs.stamp_ns(m.header) for _, m in result[OTB_IMAGE_TOPIC]]
    assert [rosmsgs.stamp_ns(m.header) for _, m in result['/deeptrack/detection']] == stamps
    statuses = [m for _, m in result['/deeptrack/status']]
    assert len(statuses) == 10 and 0.0 <= statuses[-1].confidence <= 1.0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['device'] == 'cpu' and summary['seed'] == 3
    csv_rows = (out / 'deeptrack' / 'small.csv').read_text().splitlines()
    assert len(csv_rows) == 11 and csv_rows[1].split(',')[5] != ''  # DeepTrack has a score


def test_status_type_comes_from_the_package_msg_file():
    path = rosmsgs.status_msg_path()
    if path is None:
        pytest.skip('msg/TrackStatus.msg not present')
    assert Path(path).name == 'TrackStatus.msg' and rosmsgs.has_status_type()


def test_ground_truth_that_matches_no_image_is_an_error(sequence_dir, tmp_path, capsys):
    bag = tmp_path / 'synth'
    assert main(['otb2bag', str(sequence_dir), str(bag), '--quiet']) == 0
    capsys.readouterr()
    out = tmp_path / 'out'
    assert main(['bag', str(bag), '--image-topic', OTB_IMAGE_TOPIC, '--init-box', '30,25,24,20',
                 '--gt-topic', OTB_GT_TOPIC, '--tracker', 'identity', '--out', str(out),
                 '--quiet']) == 0
    gt_file = tmp_path / 'gt.txt'
    gt_file.write_text('0,0,0,0\n')
    assert main(['bag', str(bag), '--image-topic', OTB_IMAGE_TOPIC, '--init-box', '30,25,24,20',
                 '--gt-file', str(gt_file), '--tracker', 'identity', '--out', str(out),
                 '--quiet']) == 2
    assert 'has no box for any tracked image' in _error_line(capsys)
    assert (out / 'summary.json').is_file()  # the earlier good result is kept
