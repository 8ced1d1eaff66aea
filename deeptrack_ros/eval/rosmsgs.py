"""ROS 2 message types for bags, registered with `rosbags` from .msg text (no ROS install).

vision_msgs is not installable from a package registry, so its definitions are written here
from the published field list (vision_msgs 4.1.1, identical in Humble, Jazzy and Kilted; type
hashes depend only on names and types, so bags written here read as real vision_msgs in ROS).
`deeptrack_ros/msg/TrackStatus` is read from the package's own `msg/TrackStatus.msg` (the
source tree or an installed `share/deeptrack_ros/msg/`), so the bag always carries the status
type the node publishes; when that file cannot be found, bags get detections only.

Messages are built with `build_message`, which fills every field the caller does not give
with its ROS default, so a status message keeps working as its definition grows fields.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

DETECTION = 'vision_msgs/msg/Detection2D'
STATUS = 'deeptrack_ros/msg/TrackStatus'
IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'

VISION_MSGS = {
    'vision_msgs/msg/Point2D': 'float64 x\nfloat64 y\n',
    'vision_msgs/msg/Pose2D': 'vision_msgs/Point2D position\nfloat64 theta\n',
    'vision_msgs/msg/BoundingBox2D': 'vision_msgs/Pose2D center\nfloat64 size_x\n'
                                     'float64 size_y\n',
    'vision_msgs/msg/ObjectHypothesis': 'string class_id\nfloat64 score\n',
    'vision_msgs/msg/ObjectHypothesisWithPose': 'vision_msgs/ObjectHypothesis hypothesis\n'
                                                'geometry_msgs/PoseWithCovariance pose\n',
    'vision_msgs/msg/Detection2D': 'std_msgs/Header header\n'
                                   'vision_msgs/ObjectHypothesisWithPose[] results\n'
                                   'vision_msgs/BoundingBox2D bbox\nstring id\n',
}
"""Field lists of the vision_msgs types a Detection2D needs, dependencies first."""

_NUMPY_TYPES = {'bool': np.bool_, 'byte': np.uint8, 'char': np.uint8, 'int8': np.int8,
                'uint8': np.uint8, 'int16': np.int16, 'uint16': np.uint16, 'int32': np.int32,
                'uint32': np.uint32, 'int64': np.int64, 'uint64': np.uint64,
                'float32': np.float32, 'float64': np.float64}


def status_msg_path() -> Path | None:
    """Where `TrackStatus.msg` is: the source tree's `msg/`, else an installed share folder."""
    package_root = Path(__file__).resolve().parents[2]
    candidates = [package_root / 'msg' / 'TrackStatus.msg']
    prefixes = [sys.prefix, *os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep)]
    candidates += [Path(p) / 'share' / 'deeptrack_ros' / 'msg' / 'TrackStatus.msg'
                   for p in prefixes if p]
    return next((c for c in candidates if c.is_file()), None)


@lru_cache(maxsize=1)
def typestore() -> Any:
    """A rosbags typestore with the ROS 2 base types, vision_msgs and (if found) TrackStatus."""
    from rosbags.typesys import Stores, get_typestore, get_types_from_msg

    store = get_typestore(getattr(Stores, 'ROS2_KILTED', Stores.ROS2_HUMBLE))
    types: dict[str, Any] = {}
    for name, text in VISION_MSGS.items():
        types.update(get_types_from_msg(text, name))
    status = status_msg_path()
    if status is not None:
        types.update(get_types_from_msg(status.read_text(encoding='utf-8'), STATUS))
    store.register(types)
    return store


def has_status_type() -> bool:
    """Whether TrackStatus could be registered (its .msg file was found)."""
    return STATUS in typestore().types


def build_message(typename: str, values: Mapping[str, Any] | None = None) -> Any:
    """Instantiate a message, giving every field not in `values` its ROS default.

    Values for nested messages may be messages or mappings; numbers are converted to the
    field's type, so callers can pass Python floats and bools for any numeric field.
    """
    store = typestore()
    values = dict(values or {})
    _, fields = store.fielddefs[typename]
    kwargs = {}
    for name, desc in fields:
        kwargs[name] = (_coerce(desc, values[name]) if name in values else _default(desc))
    return store.types[typename](**kwargs)


def _default(desc: tuple[Any, Any]) -> Any:
    from rosbags.typesys.base import Nodetype

    kind, spec = desc
    if kind == Nodetype.BASE:
        base = spec[0]
        if base == 'string' or base == 'wstring':
            return ''
        if base == 'bool':
            return False
        return 0.0 if base.startswith('float') else 0
    if kind == Nodetype.NAME:
        return build_message(spec)
    sub, count = spec
    if sub[0] == Nodetype.BASE and sub[1][0] in _NUMPY_TYPES:
        return np.zeros(count if kind == Nodetype.ARRAY else 0, dtype=_NUMPY_TYPES[sub[1][0]])
    if kind == Nodetype.ARRAY:
        return [_default(sub) for _ in range(count)]
    return []


def _coerce(desc: tuple[Any, Any], value: Any) -> Any:
    from rosbags.typesys.base import Nodetype

    kind, spec = desc
    if kind == Nodetype.BASE:
        base = spec[0]
        if base in ('string', 'wstring'):
            return str(value)
        if base == 'bool':
            return bool(value)
        return float(value) if base.startswith('float') else int(value)
    if kind == Nodetype.NAME:
        return build_message(spec, value) if isinstance(value, Mapping) else value
    sub, _ = spec
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE) and sub[0] == Nodetype.BASE \
            and sub[1][0] in _NUMPY_TYPES:
        dtype = _NUMPY_TYPES[sub[1][0]]
        if isinstance(value, (bytes, bytearray, memoryview)):
            return np.frombuffer(value, dtype=np.uint8).astype(dtype)
        return np.asarray(value, dtype=dtype)
    return value


# --- stamps ---------------------------------------------------------------------------------

def stamp_ns(header: Any) -> int:
    """A header's stamp as integer nanoseconds (the key that matches messages to images)."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def make_header(ns: int, frame_id: str) -> Any:
    """A std_msgs/Header at `ns` nanoseconds."""
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return build_message('std_msgs/msg/Header',
                         {'stamp': {'sec': sec, 'nanosec': nanosec}, 'frame_id': frame_id})


# --- Detection2D <-> box -----------------------------------------------------------------

def detection(header: Any, box: tuple[float, float, float, float], score: float,
              class_id: str = 'target', track_id: str = '1') -> Any:
    """A Detection2D for a 0-based (x, y, w, h) box: bbox centre and size, one hypothesis.

    The hypothesis pose repeats the centre in pixels (z = 0, identity orientation) so
    consumers that read only `results[0].pose` still find the target.
    """
    x, y, w, h = (float(v) for v in box)
    cx, cy = x + w / 2.0, y + h / 2.0
    hypothesis = {
        'hypothesis': {'class_id': class_id, 'score': float(min(1.0, max(0.0, score)))},
        'pose': {'pose': {'position': {'x': cx, 'y': cy, 'z': 0.0},
                          'orientation': {'x': 0.0, 'y': 0.0, 'z': 0.0, 'w': 1.0}}},
    }
    return build_message(DETECTION, {
        'header': header,
        'results': [build_message('vision_msgs/msg/ObjectHypothesisWithPose', hypothesis)],
        'bbox': {'center': {'position': {'x': cx, 'y': cy}, 'theta': 0.0},
                 'size_x': w, 'size_y': h},
        'id': track_id,
    })


def detection_box(message: Any) -> tuple[float, float, float, float]:
    """The 0-based (x, y, w, h) box of a Detection2D (centre + size back to the corner)."""
    bbox = message.bbox
    w, h = float(bbox.size_x), float(bbox.size_y)
    return (float(bbox.center.position.x) - w / 2.0, float(bbox.center.position.y) - h / 2.0,
            w, h)


def constant(typename: str, name: str) -> Any:
    """A constant of a registered message type (e.g. TrackStatus.STATE_LOST)."""
    consts, _ = typestore().fielddefs[typename]
    for const_name, _, value in consts:
        if const_name == name:
            return value
    raise KeyError(f'{typename} has no constant {name}')


def status(header: Any, values: Mapping[str, Any]) -> Any:
    """A TrackStatus message: the fields whose names appear in `values`, defaults elsewhere."""
    store = typestore()
    _, fields = store.fielddefs[STATUS]
    known = {name for name, _ in fields}
    given = {k: v for k, v in values.items() if k in known and v is not None}
    if 'header' in known:
        given['header'] = header
    return build_message(STATUS, given)
