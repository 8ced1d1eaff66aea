"""The node's ROS parameters: declared from the tracker's config dataclass, validated on change.

One source of defaults. Every field of `TrackerConfig` becomes a parameter of the same name,
with a ParameterDescriptor built from its `FieldInfo` (description, range, choices, read-only);
the node's own parameters (`NODE_PARAMETERS`) sit beside them. `config/tracker.yaml` is
generated from the same specs (`python -m deeptrack_ros.ros.parameters --write-yaml
config/tracker.yaml`) and a test checks that the committed file equals the generated one.

`mode` is both a tracker field and the node's preset switch: it picks the preset whose values
are the defaults of every other tracker parameter (default 'best'). It is read-only, because
changing it later could not change the values already declared. A parameter file that lists
every parameter, like the shipped one, fixes them all explicitly; `mode` then only labels the
configuration.

When changes take effect. Tracker parameters are read each time a tracker is built, that is at
the next (re-)initialisation (a new `~/init`, or an image size change); the running track keeps
the configuration it started with, because swapping constants under a trained model would
silently change its behaviour mid-track. The same holds for `device` and `seed`. Read-only
parameters (network shape, QoS, timers, history size) can only be set at start-up, with
`-p name:=value` or a parameter file. A change is refused, with the reason, when the would-be
configuration does not validate (`TrackerConfig.from_mapping`), so a bad value never reaches
the next initialisation. Doubles must be given as doubles (`-p lost_score:=0.3`, not `:=0`):
ROS parameters are statically typed.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deeptrack_ros.core import TrackerConfig, preset
from deeptrack_ros.core.config import DEFAULT_MODE, config_fields

RELIABILITIES = ('best_effort', 'reliable')
DEVICE_PATTERN = re.compile(r'^(auto|cpu|cuda(:\d+)?)$')
YAML_WIDTH = 100


@dataclass(frozen=True)
class ParameterSpec:
    """One ROS parameter: its default and everything its descriptor and validation need."""

    name: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False
    tracker: bool = False

    def full_description(self) -> str:
        """The description with the constraints spelled out, for humans and the YAML."""
        parts = [self.description]
        if self.choices:
            parts.append(f'One of: {", ".join(self.choices)}.')
        if self.minimum is not None and self.maximum is not None:
            parts.append(f'Range [{_number(self.minimum)}, {_number(self.maximum)}]'
                         + (' per element.' if isinstance(self.default, tuple) else '.'))
        if self.read_only:
            parts.append('Read-only: set at start-up.')
        elif self.tracker or self.name in ('device', 'seed'):
            parts.append('Takes effect at the next (re-)initialisation.')
        return ' '.join(parts)

    def descriptor(self) -> Any:
        """The rcl_interfaces ParameterDescriptor (ranges for scalars, read-only flag)."""
        from rcl_interfaces.msg import (FloatingPointRange, IntegerRange,
                                        ParameterDescriptor)

        descriptor = ParameterDescriptor(description=self.full_description(),
                                         read_only=self.read_only)
        if self.choices:
            descriptor.additional_constraints = f'one of: {", ".join(self.choices)}'
        default = self.default
        has_range = self.minimum is not None and self.maximum is not None
        if isinstance(default, bool) or not has_range:
            return descriptor
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(
                from_value=int(self.minimum), to_value=int(self.maximum), step=1)]
        elif isinstance(default, float):
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(self.minimum), to_value=float(self.maximum), step=0.0)]
        elif isinstance(default, tuple):
            descriptor.additional_constraints = (
                f'each element in [{_number(self.minimum)}, {_number(self.maximum)}]')
        return descriptor


NODE_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec('device', 'auto',
                  "Torch device: 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'. "
                  'CUDA requested but unavailable falls back to the CPU with a warning.'),
    ParameterSpec('seed', 0, 'Seed of the tracker (network weights, particles); -1 draws a '
                  'fresh seed at every initialisation.', -1, 2**31 - 1),
    ParameterSpec('torch_threads', 0, 'Threads torch may use for the tracker; 0 keeps '
                  "torch's default (one per core).", 0, 256, read_only=True),
    ParameterSpec('reliability', 'best_effort',
                  'Reliability of the image subscription. best_effort (sensor-data QoS) '
                  'matches every publisher; reliable matches only reliable publishers.',
                  choices=RELIABILITIES, read_only=True),
    ParameterSpec('qos_depth', 1, 'History depth of the image subscription; 1 keeps only the '
                  'newest frame.', 1, 100, read_only=True),
    ParameterSpec('init_history', 30, 'Recent frames kept by stamp, so a ~/init stamped with '
                  'an earlier frame initialises on that frame.', 1, 1000, read_only=True),
    ParameterSpec('max_lag_periods', 2.0, 'Lag budget of a detection behind its image, in '
                  'camera periods (learned from arrivals): a frame already too old for its '
                  'detection to make it is dropped for the next one when that one would, '
                  'which costs a wait of a few milliseconds; 0 always tracks the newest '
                  'frame at once.', 0.0, 100.0, read_only=True),
    ParameterSpec('diagnostics_period', 1.0, 'Seconds between /diagnostics messages.',
                  0.05, 3600.0, read_only=True),
    ParameterSpec('publish_debug_image', False, 'Publish ~/debug_image (rgb8): box, particles '
                  'coloured by score, and the quality Q.'),
    ParameterSpec('track_id_prefix', 'track', 'Track ids are <prefix>-<n>, n counting '
                  'initialisations; the id is stable until the next ~/init.'),
    ParameterSpec('class_id', 'target', 'class_id of the hypothesis in ~/detection.'),
    ParameterSpec('mono16_max', 65535.0, 'mono16/16UC1 images are scaled to 8 bits as '
                  'value * 255 / mono16_max (clipped).', 1.0, 65535.0),
)
"""Parameters of the node itself (the tracker's come from TrackerConfig)."""


def tracker_specs(mode: str = DEFAULT_MODE) -> list[ParameterSpec]:
    """A spec per TrackerConfig field, with the defaults of preset `mode`."""
    defaults = preset(mode)
    specs = []
    for name, _, info in config_fields():
        default = getattr(defaults, name)
        read_only = info.read_only or name == 'mode'
        description = info.description
        if name == 'mode':
            description = ('Preset whose values are the defaults of every other tracker '
                           'parameter (paper: as published; best: the measured best).')
        specs.append(ParameterSpec(name, default, description, info.minimum, info.maximum,
                                   tuple(info.choices), read_only, tracker=True))
    return specs


def parameter_specs(mode: str = DEFAULT_MODE) -> list[ParameterSpec]:
    """Every parameter the node declares: the tracker's (mode first), then the node's."""
    return [*tracker_specs(mode), *NODE_PARAMETERS]


def declare_parameters(node: Any) -> dict[str, ParameterSpec]:
    """Declare every parameter on `node` and return the specs by name.

    `mode` is declared first, so that a `-p mode:=paper` override picks the defaults of all
    the others. Raises ValueError (with the reason) when the start-up values do not form a
    valid configuration, since no callback guards the values a node starts with.
    """
    mode_spec = next(s for s in tracker_specs() if s.name == 'mode')
    mode = node.declare_parameter('mode', mode_spec.default, mode_spec.descriptor()).value
    if mode not in mode_spec.choices:
        raise ValueError(f'mode must be one of {", ".join(mode_spec.choices)}, got {mode!r}')
    specs = {spec.name: spec for spec in parameter_specs(mode)}
    for spec in specs.values():
        if spec.name != 'mode':
            default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
            node.declare_parameter(spec.name, default, spec.descriptor())
    reason = validate_values(current_values(node, specs))
    if reason:
        raise ValueError(f'invalid parameters: {reason}')
    return specs


def current_values(node: Any, names: Iterable[str]) -> dict[str, Any]:
    """The node's current values of `names`, arrays as tuples."""
    return {name: plain_value(node.get_parameter(name).value) for name in names}


def plain_value(value: Any) -> Any:
    """A parameter value as plain Python: arrays (array.array, list) become tuples."""
    if isinstance(value, (str, bytes)) or not hasattr(value, '__iter__'):
        return value
    return tuple(value)


def tracker_config(values: Mapping[str, Any]) -> TrackerConfig:
    """The TrackerConfig the tracker parameters among `values` describe (ValueError if bad)."""
    fields = {name for name, _, _ in config_fields()}
    return TrackerConfig.from_mapping({k: v for k, v in values.items() if k in fields})


def validate_values(values: Mapping[str, Any]) -> str | None:
    """The reason `values` (every parameter) are invalid, or None when they are fine."""
    for spec in NODE_PARAMETERS:
        if spec.name not in values:
            continue
        reason = _node_value_problem(spec, values[spec.name])
        if reason:
            return reason
    try:
        tracker_config(values)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


def _node_value_problem(spec: ParameterSpec, value: Any) -> str | None:
    """What is wrong with one node parameter (ranges are already checked by rclpy)."""
    if spec.choices and value not in spec.choices:
        return f'{spec.name} must be one of {", ".join(spec.choices)}, got {value!r}'
    if spec.name == 'device' and not DEVICE_PATTERN.match(str(value)):
        return f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {value!r}"
    if spec.name in ('track_id_prefix', 'class_id') and not str(value).strip():
        return f'{spec.name} must not be empty'
    if spec.minimum is not None and not isinstance(value, bool) and value < spec.minimum:
        return f'{spec.name} must be >= {_number(spec.minimum)}, got {value!r}'
    if spec.maximum is not None and not isinstance(value, bool) and value > spec.maximum:
        return f'{spec.name} must be <= {_number(spec.maximum)}, got {value!r}'
    return None


class ParameterGuard:
    """On-set-parameters callback: refuses a change whose result would not validate.

    rclpy has already applied the descriptors (type, range, read-only) when this runs; the
    guard adds what descriptors cannot say: choices, the device syntax, and the tracker's own
    cross-field checks, by validating the whole would-be configuration.
    """

    def __init__(self, node: Any, specs: Mapping[str, ParameterSpec]) -> None:
        self._node = node
        self._specs = specs

    def __call__(self, parameters: list[Any]) -> Any:
        from rcl_interfaces.msg import SetParametersResult

        values = current_values(self._node, self._specs)
        for parameter in parameters:
            if parameter.name in self._specs:
                values[parameter.name] = plain_value(parameter.value)
        reason = validate_values(values)
        return SetParametersResult(successful=reason is None, reason=reason or '')


# --- the generated parameter file ------------------------------------------------------------


def yaml_text(mode: str = DEFAULT_MODE) -> str:
    """config/tracker.yaml: every parameter with its default and description."""
    lines = [
        '# Parameters of deeptrack_ros tracker_node, with their defaults.',
        '#',
        '# GENERATED from deeptrack_ros/core/config.py (TrackerConfig) and',
        '# deeptrack_ros/ros/parameters.py by',
        '#   python -m deeptrack_ros.ros.parameters --write-yaml config/tracker.yaml',
        '# Do not edit by hand: a test checks that this file equals the generated one. Copy it',
        '# to change values for your robot and pass the copy as params_file to the launch file.',
        '/**:',
        '  ros__parameters:',
    ]
    for spec in parameter_specs(mode):
        comment = textwrap.wrap(spec.full_description(), YAML_WIDTH - 6,
                                break_on_hyphens=False)
        lines.append('')
        lines.extend(f'    # {line}' for line in comment)
        lines.append(f'    {spec.name}: {yaml_value(spec.default)}')
    return '\n'.join(lines) + '\n'


def yaml_value(value: Any) -> str:
    """A YAML scalar or flow list that the rcl parameter parser reads back with the same type."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if 'e' in text and '.' not in text.split('e')[0]:
            mantissa, exponent = text.split('e')
            text = f'{mantissa}.0e{exponent}'
        return text
    if isinstance(value, tuple):
        return '[' + ', '.join(yaml_value(v) for v in value) + ']'
    return "'" + str(value).replace("'", "''") + "'"


def _number(value: float | None) -> str:
    """A bound as written in descriptions: whole numbers in full, others compact."""
    if float(value).is_integer() and abs(value) < 1e12:
        return str(int(value))
    return f'{value:g}'


def main(argv: list[str] | None = None) -> int:
    """`python -m deeptrack_ros.ros.parameters --write-yaml PATH` (or `--check PATH`)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--write-yaml', type=Path, metavar='PATH',
                       help='write the generated parameter file to PATH')
    group.add_argument('--check', type=Path, metavar='PATH',
                       help='exit 1 when PATH differs from the generated parameter file')
    options = parser.parse_args(argv)
    text = yaml_text()
    if options.write_yaml:
        options.write_yaml.write_text(text, encoding='utf-8')
        return 0
    current = options.check.read_text(encoding='utf-8') if options.check.exists() else ''
    if current != text:
        print(f'{options.check} is out of date; regenerate it with --write-yaml',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
