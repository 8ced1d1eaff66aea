"""`deeptrack-eval bench` end to end on generated sequences: the table it prints is real."""

import re

import pytest

from deeptrack_ros.eval.cli import main
from deeptrack_ros.eval.synthetic import write_otb_sequence

LIGHT = ['--set', 'num_particles=200', '--set', 'first_frame_iterations=5',
         '--set', 'negatives_per_frame=30', '--set', 'max_update_iterations=1']


@pytest.fixture()
def root(tmp_path):
    bench = tmp_path / 'bench'
    write_otb_sequence(bench / 'Alpha', count=8)
    write_otb_sequence(bench / 'Beta', count=6, seed=1)
    return bench


def _row(text, label):
    for line in text.splitlines():
        if line.startswith(label + ' ') and 'fps per' not in line:
            return line.split()
    raise AssertionError(f'no row {label!r} in:\n{text}')


def test_bench_prints_paths_csrt_ratio_and_stage_split(root, capsys):
    status = main(['bench', str(root), '--paths', 'best,paper', '--node-seconds', '0',
                   '--device', 'cpu', '--seed', '0', '--quiet', '--threads', '1', *LIGHT])
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith('machine: ')
    assert '2 sequences, 14 frames per path' in out
    best, paper, csrt = (_row(out, label) for label in
                         ('deeptrack[best]', 'deeptrack[paper]', 'csrt'))
    # label, median fps, ratio, P@20, AUC, init, 4 stages (DeepTrack) or 4 dashes (CSRT)
    for row in (best, paper):
        fps, ratio, p20, auc = (float(v) for v in row[1:5])
        assert fps > 0 and ratio > 0 and 0 <= p20 <= 1 and 0 <= auc <= 1
        stages = [float(v) for v in row[6:10]]
        assert all(v >= 0 for v in stages) and sum(stages) > 0
    assert float(csrt[2]) == pytest.approx(1.0)
    assert csrt[6:10] == ['-'] * 4
    assert re.search(r'^fps per sequence +Alpha +Beta$', out, re.M)


def test_bench_frames_limit_and_bad_values(root, capsys):
    assert main(['bench', str(root), '--frames', '3', '--node-seconds', '0', '--device',
                 'cpu', '--quiet', *LIGHT]) == 0
    assert '2 sequences, 6 frames per path' in capsys.readouterr().out
    assert main(['bench', str(root), '--frames', '1', '--node-seconds', '0']) == 2
    assert 'deeptrack-eval: error: --frames must be at least 2' in capsys.readouterr().err
    assert main(['bench', str(root), '--image-scale', '0', '--node-seconds', '0']) == 2
    assert '--image-scale must be between 0.1 and 8, not 0' in capsys.readouterr().err


def test_bench_on_resized_images_names_the_scale(root, capsys):
    assert main(['bench', str(root), '--frames', '3', '--image-scale', '2', '--node-seconds',
                 '0', '--device', 'cpu', '--quiet', *LIGHT]) == 0
    out = capsys.readouterr().out
    assert '2 sequences, 6 frames per path' in out
    assert re.search(r'^fps per sequence +Alpha-scale2 +Beta-scale2$', out, re.M)


def test_per_sequence_table_keeps_whole_names_in_aligned_columns():
    from deeptrack_ros.eval.bench import PathResult, format_per_sequence

    fast = PathResult('deeptrack[best]', fps={'MotorRolling': 41.25, 'Coke': 30.0})
    slow = PathResult('csrt', fps={'MotorRolling': 48.0, 'Coke': 7.5})
    header, first, second = format_per_sequence([fast, slow]).splitlines()
    assert header.split()[-2:] == ['MotorRolling', 'Coke']
    assert first.split()[-2:] == ['41.2', '30.0'] and second.split()[-2:] == ['48.0', '7.5']
    # every column ends where its name ends
    assert len(header) == len(first) == len(second)
    assert header.index('MotorRolling') + len('MotorRolling') == first.index('41.2') + 4


def test_node_benchmark_command_rebuilds_the_same_config_in_the_child():
    # The node is measured in a fresh interpreter: its command line must carry the config.
    from deeptrack_ros.core import preset
    from deeptrack_ros.core.config import TrackerConfig
    from deeptrack_ros.eval.bench import node_benchmark_command
    from deeptrack_ros.ros.node_bench import parse_setting

    config = preset('best').replace(num_particles=321, scoring='particles',
                                    correlation_color=0.5, lcn_radii=(0.25, 0.5))
    command = node_benchmark_command(config, 30.0, 2.5, 'cpu', 7)
    assert command[1:3] == ['-m', 'deeptrack_ros.ros.node_bench']
    options = command[3:]
    flags = dict(zip(options[0::2], options[1::2]))
    assert flags['--rate'] == '30.0' and flags['--seconds'] == '2.5'
    assert flags['--mode'] == 'best' and flags['--device'] == 'cpu' and flags['--seed'] == '7'
    settings = dict(parse_setting(options[i + 1]) for i in range(0, len(options), 2)
                    if options[i] == '--set')
    assert set(settings) == {'num_particles', 'scoring', 'correlation_color', 'lcn_radii'}
    assert TrackerConfig.from_mapping({'mode': 'best', **settings}) == config
