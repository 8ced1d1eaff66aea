"""rosbag2 reading and writing with `rosbags` (pure Python: no ROS installation needed).

Both storage formats are handled, sqlite3 (`.db3`) and mcap, for reading (detected from the
bag's metadata.yaml, or from the file suffix when given a bare storage file) and writing.
This module knows bags, not tracking: it reads images and Detection2D messages, writes
messages, and converts an OTB sequence into a bag (`otb2bag`), so that public benchmarks and
users' recordings go through the same `bag` replay path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deeptrack_ros.eval import rosmsgs
from deeptrack_ros.eval.errors import EvalError, where
from deeptrack_ros.eval.images import decode_compressed, decode_image, encode_rgb8

STORAGES = ('mcap', 'sqlite3')
IMAGE_TYPES = (rosmsgs.IMAGE, rosmsgs.COMPRESSED_IMAGE)
OTB_IMAGE_TOPIC = '/camera/image_raw'
OTB_GT_TOPIC = '/ground_truth'
OTB_FRAME_ID = 'camera'
OTB_START_NS = 1_700_000_000 * 1_000_000_000
"""Stamp of an otb2bag bag's first frame: fixed, so conversions are byte-for-byte repeatable,
and far from 0, which some ROS tools treat as "no stamp"."""


@dataclass(frozen=True)
class BagImage:
    """One image message of a bag, decoded, with what is needed to copy it unchanged."""

    index: int
    log_ns: int
    header: Any
    image: np.ndarray
    raw: bytes


def storage_of(path: Path) -> str:
    """The storage format of a bag folder or storage file: 'mcap' or 'sqlite3'."""
    path = Path(path)
    if path.is_dir():
        meta = path / 'metadata.yaml'
        if meta.is_file():
            match = re.search(r'storage_identifier:\s*(\w+)', meta.read_text(errors='replace'))
            if match and match.group(1) in STORAGES:
                return match.group(1)
        if any(path.glob('*.mcap')):
            return 'mcap'
        if any(path.glob('*.db3')):
            return 'sqlite3'
    elif path.suffix == '.mcap':
        return 'mcap'
    elif path.suffix == '.db3':
        return 'sqlite3'
    raise EvalError(f'{where(path)}: not a rosbag2 bag (no metadata.yaml, .mcap or .db3)')


class BagReader:
    """A rosbag2 bag opened for reading, with errors turned into one-line `EvalError`s."""

    def __init__(self, path: Path) -> None:
        from rosbags.rosbag2 import Reader

        self.path = Path(path)
        if not self.path.exists():
            raise EvalError(f'{where(self.path)}: no such bag')
        self.storage = storage_of(self.path)
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as exc:  # rosbags raises several types for unreadable bags
            raise EvalError(f'{where(self.path)}: cannot open bag ({_one_line(exc)})') from None

    def __enter__(self) -> 'BagReader':
        return self

    def __exit__(self, *exc: object) -> None:
        self._reader.close()

    def connections(self, topic: str, types: tuple[str, ...]) -> list[Any]:
        """The connections of `topic`, which must exist and carry one of `types`."""
        found = [c for c in self._reader.connections if c.topic == topic]
        if not found:
            topics = ', '.join(sorted({c.topic for c in self._reader.connections})) or 'none'
            raise EvalError(f'{where(self.path)}: no topic {topic!r} (topics: {topics})')
        wrong = [c.msgtype for c in found if c.msgtype not in types]
        if wrong:
            raise EvalError(f'{where(self.path)}: topic {topic!r} carries {wrong[0]}, '
                            f'expected {" or ".join(types)}')
        return found

    def count(self, topic: str) -> int:
        """Number of messages on a topic (from the bag's index; 0 if unknown)."""
        return sum(c.msgcount for c in self._reader.connections if c.topic == topic)

    def image_connection_info(self, topic: str) -> tuple[str, str, str, list[Any]]:
        """(msgtype, msgdef text, type hash, QoS profiles) of an image topic, to copy it."""
        conn = self.connections(topic, IMAGE_TYPES)[0]
        return (conn.msgtype, conn.msgdef.data, conn.digest,
                list(getattr(conn.ext, 'offered_qos_profiles', [])))

    def images(self, topic: str) -> Iterator[BagImage]:
        """Every image of a topic in log-time order, decoded to RGB."""
        store = rosmsgs.typestore()
        conns = self.connections(topic, IMAGE_TYPES)
        for index, (conn, log_ns, raw) in enumerate(self._reader.messages(connections=conns)):
            label = f'{self.path} {topic} message {index}'
            message = self._deserialize(store, raw, conn.msgtype, label)
            if conn.msgtype == rosmsgs.COMPRESSED_IMAGE:
                image = decode_compressed(message, label)
            else:
                image = decode_image(message, label)
            yield BagImage(index, int(log_ns), message.header, image, bytes(raw))

    def detections(self, topic: str) -> list[tuple[int, tuple[float, float, float, float]]]:
        """(header stamp ns, 0-based box) of every Detection2D on a topic, in log order."""
        store = rosmsgs.typestore()
        conns = self.connections(topic, (rosmsgs.DETECTION,))
        out = []
        for index, (conn, _, raw) in enumerate(self._reader.messages(connections=conns)):
            message = self._deserialize(store, raw, conn.msgtype,
                                        f'{self.path} {topic} message {index}')
            out.append((rosmsgs.stamp_ns(message.header), rosmsgs.detection_box(message)))
        return out

    @staticmethod
    def _deserialize(store: Any, raw: bytes, msgtype: str, label: str) -> Any:
        try:
            return store.deserialize_cdr(raw, msgtype)
        except Exception as exc:  # a truncated or foreign message is bad input, not a bug
            raise EvalError(f'{label}: cannot deserialize {msgtype} ({_one_line(exc)})') from None


class BagWriter:
    """A new rosbag2 bag (version 9) in the chosen storage format."""

    def __init__(self, path: Path, storage: str) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise EvalError(f'unknown storage {storage!r} (choose from {", ".join(STORAGES)})')
        plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
        self._writer = Writer(Path(path), version=9, storage_plugin=plugin)
        self._writer.open()
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> 'BagWriter':
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def add_topic(self, topic: str, msgtype: str, msgdef: str = '', digest: str = '',
                  qos: list[Any] | None = None) -> None:
        """Declare a topic; its definition comes from the typestore unless given (copies)."""
        if msgdef and digest:
            conn = self._writer.add_connection(topic, msgtype, msgdef=msgdef, rihs01=digest,
                                               offered_qos_profiles=qos or [])
        else:
            conn = self._writer.add_connection(topic, msgtype, typestore=rosmsgs.typestore(),
                                               offered_qos_profiles=qos or [])
        self._connections[topic] = (conn, msgtype)

    def write(self, topic: str, log_ns: int, message: Any) -> None:
        """Serialise and write one message."""
        conn, msgtype = self._connections[topic]
        self._writer.write(conn, int(log_ns), rosmsgs.typestore().serialize_cdr(message, msgtype))

    def write_raw(self, topic: str, log_ns: int, raw: bytes) -> None:
        """Write an already serialised message (an image copied unchanged)."""
        conn, _ = self._connections[topic]
        self._writer.write(conn, int(log_ns), raw)


def otb_to_bag(frames: list[Path], groundtruth: np.ndarray, out: Path, storage: str = 'mcap',
               fps: float = 30.0, progress: Any = None) -> int:
    """Write an OTB sequence as a bag: rgb8 images and Detection2D ground truth.

    Images go on `/camera/image_raw` and ground truth (0-based centre + size, the vision_msgs
    convention) on `/ground_truth`, both stamped `OTB_START_NS + i / fps` with frame_id
    'camera', and logged at their stamps. Returns the number of frames written.
    """
    from deeptrack_ros.eval.sequences import read_frame

    if not fps > 0:
        raise EvalError(f'--fps must be positive, got {fps}')
    with BagWriter(out, storage) as writer:
        writer.add_topic(OTB_IMAGE_TOPIC, rosmsgs.IMAGE)
        writer.add_topic(OTB_GT_TOPIC, rosmsgs.DETECTION)
        for index, (path, box) in enumerate(zip(frames, groundtruth)):
            stamp = OTB_START_NS + int(round(index * 1e9 / fps))
            header = rosmsgs.make_header(stamp, OTB_FRAME_ID)
            fields = encode_rgb8(read_frame(path))
            writer.write(OTB_IMAGE_TOPIC, stamp,
                         rosmsgs.build_message(rosmsgs.IMAGE, {'header': header, **fields}))
            gt = tuple(float(v) if np.isfinite(v) else 0.0 for v in box)
            writer.write(OTB_GT_TOPIC, stamp, rosmsgs.detection(header, gt, 1.0))
            if progress is not None:
                progress.advance()
    return min(len(frames), len(groundtruth))


def _one_line(exc: BaseException) -> str:
    return ' '.join(str(exc).split()) or type(exc).__name__
