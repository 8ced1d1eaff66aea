"""The OTB loader on small generated folders: separators, targets, short and empty GT, errors."""

import numpy as np
import pytest

from deeptrack_ros.eval.errors import EvalError
from deeptrack_ros.eval.sequences import (discover, every_nth_frame, gray_sequence,
                                          load_folder, rescaled_sequence,
                                          parse_groundtruth, read_frame, reversed_sequence)
from deeptrack_ros.eval.synthetic import write_otb_sequence


def test_comma_and_whitespace_separators(tmp_path):
    path = tmp_path / 'gt.txt'
    path.write_text('1,2,3,4\n5\t6\t7\t8\n9 10  11 12\n13, 14, 15, 16\n\n\n')
    assert parse_groundtruth(path).tolist() == [
        [0, 1, 3, 4], [4, 5, 7, 8], [8, 9, 11, 12], [12, 13, 15, 16]]


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / 'gt.txt'
    path.write_text('1,2,3,4\n5,6,7\n')
    with pytest.raises(EvalError, match=rf'{path}:2: expected 4 numbers'):
        parse_groundtruth(path)
    path.write_text('1,2,3,4\n1,2,3,4\n5,6,x,8\n')
    with pytest.raises(EvalError, match=rf'{path}:3: not a number'):
        parse_groundtruth(path)
    path.write_text('1,2,3,4\n\n5,6,7,8\n')  # a blank line inside is not an empty row
    with pytest.raises(EvalError, match=rf'{path}:2:'):
        parse_groundtruth(path)


def test_folder_loads_rgb_frames_and_zero_based_boxes(tmp_path):
    boxes = write_otb_sequence(tmp_path / 'Seq', count=5, separator='\t', first_number=300,
                               extension='.jpg')
    (seq,) = load_folder(tmp_path / 'Seq')
    assert seq.name == 'Seq' and len(seq) == 5
    assert [p.name for p in seq.frames] == [f'{n:04d}.jpg' for n in range(300, 305)]
    np.testing.assert_array_equal(seq.groundtruth, boxes)
    image = read_frame(seq.frames[0])
    assert image.dtype == np.uint8 and image.shape == (90, 120, 3)
    x, y, w, h = (int(v) for v in seq.init_box)
    target = image[y + 1:y + h - 1, x + 1:x + w - 1].reshape(-1, 3).mean(axis=0)
    assert target[0] > target[2] + 60  # red / yellow target: RGB order, not BGR


def test_multiple_targets_are_separate_sequences(tmp_path):
    folder = tmp_path / 'Jog'
    write_otb_sequence(folder, count=6)
    (folder / 'groundtruth_rect.1.txt').write_text((folder / 'groundtruth_rect.txt').read_text())
    (folder / 'groundtruth_rect.2.txt').write_text('1 1 5 5\n' * 6)
    (folder / 'groundtruth_rect.txt').write_text('garbage that must be ignored\n')
    seqs = load_folder(folder)
    assert [s.name for s in seqs] == ['Jog-1', 'Jog-2']
    assert seqs[1].groundtruth[0].tolist() == [0, 0, 5, 5]
    assert [s.name for s in discover(tmp_path, ['Jog-2'])] == ['Jog-2']
    assert [s.name for s in discover(tmp_path, ['Jog'])] == ['Jog-1', 'Jog-2']


def test_short_groundtruth_keeps_annotated_prefix(tmp_path):
    write_otb_sequence(tmp_path / 'S', count=8)
    gt = tmp_path / 'S' / 'groundtruth_rect.txt'
    gt.write_text('\n'.join(gt.read_text().splitlines()[:5]))  # no final newline either
    (seq,) = load_folder(tmp_path / 'S')
    assert len(seq) == 5 and len(seq.groundtruth) == 5


def test_groundtruth_longer_than_frames_is_an_error(tmp_path):
    write_otb_sequence(tmp_path / 'S', count=3)
    gt = tmp_path / 'S' / 'groundtruth_rect.txt'
    gt.write_text(gt.read_text() + '1,1,5,5\n')
    with pytest.raises(EvalError, match='4 ground-truth rows but only 3 images'):
        load_folder(tmp_path / 'S')


def test_zero_size_rows_are_kept_but_invalid(tmp_path):
    write_otb_sequence(tmp_path / 'S', count=4)
    gt = tmp_path / 'S' / 'groundtruth_rect.txt'
    lines = gt.read_text().splitlines()
    lines[1], lines[2] = '0,0,0,0', 'NaN,NaN,NaN,NaN'
    gt.write_text('\n'.join(lines) + '\n')
    (seq,) = load_folder(tmp_path / 'S')
    assert seq.valid.tolist() == [True, False, False, True]
    gt.write_text('0,0,0,0\n' + '\n'.join(lines[1:]) + '\n')
    with pytest.raises(EvalError, match=rf'{gt}:1: the first box'):
        load_folder(tmp_path / 'S')


def test_reversed_sequence_starts_from_the_last_annotated_frame(tmp_path):
    write_otb_sequence(tmp_path / 'S', count=6)
    gt = tmp_path / 'S' / 'groundtruth_rect.txt'
    lines = gt.read_text().splitlines()
    lines[2], lines[5] = '0,0,0,0', 'NaN,NaN,NaN,NaN'  # an absent target inside and at the end
    gt.write_text('\n'.join(lines) + '\n')
    (seq,) = load_folder(tmp_path / 'S')
    back = reversed_sequence(seq)
    assert back.name == 'S-reversed' and len(back) == 5
    assert back.frames == tuple(reversed(seq.frames[:5]))
    np.testing.assert_array_equal(back.groundtruth, seq.groundtruth[4::-1])
    assert back.valid.tolist() == [True, True, False, True, True]
    assert back.init_box == tuple(seq.groundtruth[4])
    twice = reversed_sequence(back)  # a reversed run reversed again is the annotated prefix
    assert twice.frames == seq.frames[:5]
    np.testing.assert_array_equal(twice.groundtruth, seq.groundtruth[:5])


def test_every_nth_frame_keeps_the_first_frame_and_its_ground_truth(tmp_path):
    write_otb_sequence(tmp_path / 'S', count=7)
    (seq,) = load_folder(tmp_path / 'S')
    thin = every_nth_frame(seq, 3)
    assert thin.name == 'S-step3' and len(thin) == 3
    assert thin.frames == (seq.frames[0], seq.frames[3], seq.frames[6])
    np.testing.assert_array_equal(thin.groundtruth, seq.groundtruth[[0, 3, 6]])
    assert thin.init_box == seq.init_box
    assert every_nth_frame(seq, 1) is seq
    back = every_nth_frame(reversed_sequence(seq), 2)  # thinned after reversing: last box first
    assert back.name == 'S-reversed-step2' and back.init_box == tuple(seq.groundtruth[6])
    with pytest.raises(EvalError, match='1 or more, not 0'):
        every_nth_frame(seq, 0)


def test_a_rescaled_sequence_keeps_its_frames_and_recorded_ground_truth(tmp_path):
    write_otb_sequence(tmp_path / 'S', count=4)
    (seq,) = load_folder(tmp_path / 'S')
    big = rescaled_sequence(seq, 2.0)
    assert big.name == 'S-scale2' and big.image_scale == 2.0
    assert big.frames == seq.frames
    np.testing.assert_array_equal(big.groundtruth, seq.groundtruth)
    assert rescaled_sequence(seq, 1.0) is seq and seq.image_scale == 1.0
    small = rescaled_sequence(every_nth_frame(seq, 2), 0.5)  # composes with thinning
    assert small.name == 'S-step2-scale0.5' and len(small) == 2
    for later in (every_nth_frame(big, 2), reversed_sequence(big)):  # in either order
        assert later.image_scale == 2.0
    for bad in (0.0, -1.0, float('nan'), float('inf')):
        with pytest.raises(EvalError, match='image scale must be a positive number'):
            rescaled_sequence(seq, bad)


def test_a_gray_sequence_keeps_everything_but_its_colour(tmp_path):
    write_otb_sequence(tmp_path / 'S', count=3)
    (seq,) = load_folder(tmp_path / 'S')
    gray = gray_sequence(rescaled_sequence(seq, 2.0))
    assert gray.name == 'S-scale2-gray' and gray.gray and gray.image_scale == 2.0
    assert gray.frames == seq.frames
    np.testing.assert_array_equal(gray.groundtruth, seq.groundtruth)
    assert gray_sequence(gray) is gray and not seq.gray
    assert every_nth_frame(gray, 2).gray and reversed_sequence(gray).gray


def test_discover(tmp_path):
    write_otb_sequence(tmp_path / 'B', count=3)
    write_otb_sequence(tmp_path / 'A', count=3)
    (tmp_path / 'notes').mkdir()
    assert [s.name for s in discover(tmp_path)] == ['A', 'B']
    assert [s.name for s in discover(tmp_path / 'A')] == ['A']  # a sequence folder itself
    with pytest.raises(EvalError, match='no sequence named C'):
        discover(tmp_path, ['A', 'C'])
    with pytest.raises(EvalError, match='no such folder'):
        discover(tmp_path / 'missing')
    with pytest.raises(EvalError, match='no OTB sequence folders'):
        discover(tmp_path / 'notes')


def test_unreadable_frame_names_the_file(tmp_path):
    write_otb_sequence(tmp_path / 'S', count=3)
    bad = tmp_path / 'S' / 'img' / '0002.png'
    bad.write_bytes(b'not an image')
    (seq,) = load_folder(tmp_path / 'S')
    with pytest.raises(EvalError, match=rf'{bad}: cannot read image'):
        read_frame(seq.frames[1])
