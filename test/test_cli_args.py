"""The node tools' shared arguments: one spelling and one error text for a frame size and for
`-p NAME:=VALUE` in the demo, the soak and the node benchmark."""

import argparse

import pytest

from deeptrack_ros.ros import demo
from deeptrack_ros.ros.cli_args import frame_size, node_parameter_pairs


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog='tool')


def test_frame_size_reads_width_by_height_in_either_case():
    assert frame_size(_parser(), '320x240') == (320, 240)
    assert frame_size(_parser(), '64X48') == (64, 48)


@pytest.mark.parametrize('text, message', [
    ('320', "--size must be WxH, got '320'"),
    ('axb', "--size must be WxH, got 'axb'"),
    ('3x2x1', "--size must be WxH, got '3x2x1'"),
    ('8x8', "--size must be at least 16x16, got '8x8'"),
])
def test_a_bad_frame_size_is_a_usage_error_that_names_it(text, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        frame_size(_parser(), text, minimum=16)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_node_parameters_keep_the_last_value_and_values_with_separators():
    pairs = node_parameter_pairs(_parser(), ['a:=1', 'b:=x:=y', 'a:=2'])
    assert pairs == {'a': '2', 'b': 'x:=y'}


@pytest.mark.parametrize('item', ['a=1', ':=1', 'a'])
def test_a_malformed_node_parameter_is_a_usage_error(item, capsys):
    with pytest.raises(SystemExit):
        node_parameter_pairs(_parser(), [item])
    assert f'-p expects NAME:=VALUE, got {item!r}' in capsys.readouterr().err


def test_the_demo_passes_its_parameters_to_the_node_after_its_own():
    args = demo.parse_args(['--size', '160x120', '-p', 'num_particles:=200'])
    assert (args.width, args.height) == (160, 120)
    command_line = demo.node_parameters(args)
    assert command_line[command_line.index('num_particles:=200') - 1] == '-p'
    assert 'num_particles:=500' not in command_line
