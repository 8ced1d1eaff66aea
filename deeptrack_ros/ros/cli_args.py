"""Arguments shared by the node's command-line tools (demo, soak, node benchmark).

Why one place: each tool takes a frame size as WxH and node parameters as `-p NAME:=VALUE`,
and a user who learns the spelling in one should get the same checks and the same error text
in the others.
"""

from __future__ import annotations

import argparse


def frame_size(parser: argparse.ArgumentParser, text: str,
               minimum: int = 1) -> tuple[int, int]:
    """(width, height) of a WxH text such as 320x240; anything else is a usage error of
    `parser` (which exits) naming the option and the value."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        parser.error(f'--size must be WxH, got {text!r}')
    if width < minimum or height < minimum:
        parser.error(f'--size must be at least {minimum}x{minimum}, got {text!r}')
    return width, height


def node_parameter_pairs(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, str]:
    """`-p NAME:=VALUE` items (as with --ros-args) as {name: value}; a malformed item is a
    usage error of `parser`. Later items win, as on a ROS command line."""
    parameters = {}
    for item in items:
        name, sep, value = item.partition(':=')
        if not sep or not name:
            parser.error(f'-p expects NAME:=VALUE, got {item!r}')
        parameters[name] = value
    return parameters
