"""Conversions between ROS messages and what the tracker core takes: images and boxes.

Images. `image_to_array` decodes a sensor_msgs/Image into a numpy array in the encoding's own
layout (HxW or HxWxC, uint8 or uint16), honouring `step` (row padding) and, for 16-bit
encodings, `is_bigendian`. `image_to_rgb` goes further, to what `DeepTracker` accepts: HxWx3
uint8 RGB, or HxW uint8 gray. `array_to_image` is the inverse of `image_to_array` (used by the
demo, the debug image and the tests).

Supported encodings: rgb8, bgr8, rgba8, bgra8, mono8, mono16, and the OpenCV type names some
drivers publish: 8UC1 (read as mono8), 16UC1 (read as mono16) and 8UC3, read as bgr8 because
OpenCV's native channel order is BGR and 8UC3 images almost always come from cv::Mat (a driver
that sends RGB as 8UC3 would see red and blue swapped; the tracker still works, as it does on
gray images, but its colour cues then see swapped channels).

mono16 (and 16UC1) is brought to 8 bits by a fixed linear scale, value * 255 / mono16_max,
clipped: a fixed scale keeps the brightness of the target constant from frame to frame, which a
per-frame min-max stretch would not. The default 65535 suits full-range 16-bit cameras; pass
4095 for 12-bit sensors, or the far range in millimetres for depth images.

Malformed images raise `ImageConversionError`, whose `cause` is a short stable key (one of
`CAUSES`) so callers can count and log each cause once, and whose message says what is wrong.
Every check is done on the header fields before the pixel data is touched, so
`check_image` is cheap enough to run in a subscription callback.

When the ROS 2 `cv_bridge` is importable it decodes the pixel data (it is the reference
implementation on a ROS distribution); it is never required, and the numpy path below is
the one that runs where it is absent. The header checks are the same either way.

Boxes. The tracker uses 0-based (x, y, w, h) with (x, y) the top-left corner; vision_msgs
(4.x) uses the box centre and full size, both in pixels of the image the detection refers to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from deeptrack_ros.core.boxes import validate_box

try:  # The ROS 2 cv_bridge; missing where no ROS distribution is installed.
    from cv_bridge import CvBridge as _CvBridge
except Exception:  # pragma: no cover - depends on the installation  # noqa: BLE001
    _CvBridge = None

CAUSE_ENCODING = 'unsupported_encoding'
CAUSE_ZERO_SIZE = 'zero_size'
CAUSE_STEP = 'step_too_small'
CAUSE_LENGTH = 'data_length'
CAUSES = (CAUSE_ENCODING, CAUSE_ZERO_SIZE, CAUSE_STEP, CAUSE_LENGTH)

DEFAULT_MONO16_MAX = 65535.0


class ImageConversionError(ValueError):
    """A sensor_msgs/Image that cannot be converted; `cause` is one of `CAUSES`."""

    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class EncodingInfo:
    """Memory layout of one encoding: channels, bytes per channel, and the canonical name."""

    name: str
    channels: int
    depth_bytes: int

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.depth_bytes == 1 else np.uint16)


ENCODINGS = {
    'rgb8': EncodingInfo('rgb8', 3, 1),
    'bgr8': EncodingInfo('bgr8', 3, 1),
    'rgba8': EncodingInfo('rgba8', 4, 1),
    'bgra8': EncodingInfo('bgra8', 4, 1),
    'mono8': EncodingInfo('mono8', 1, 1),
    'mono16': EncodingInfo('mono16', 1, 2),
}
"""The encodings the node reads, by their sensor_msgs names."""

ALIASES = {'8UC1': 'mono8', '8UC3': 'bgr8', '16UC1': 'mono16'}
"""OpenCV type names read as the sensor_msgs encoding they almost always carry."""


def encoding_info(encoding: str) -> EncodingInfo:
    """The layout of `encoding` (aliases resolved), or ImageConversionError if unsupported."""
    name = ALIASES.get(encoding, encoding)
    info = ENCODINGS.get(name)
    if info is None:
        supported = ', '.join([*ENCODINGS, *ALIASES])
        raise ImageConversionError(
            CAUSE_ENCODING, f'unsupported encoding {encoding!r} (supported: {supported})')
    return info


def check_image(msg: Any) -> EncodingInfo:
    """Validate an Image message's header fields against its data; return the layout.

    Constant time (no pixel is read), so it can run in a subscription callback. Raises
    ImageConversionError for an unsupported encoding, a zero width or height, a step smaller
    than one row of pixels, or a data length other than step * height.
    """
    info = encoding_info(msg.encoding)
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    if width <= 0 or height <= 0:
        raise ImageConversionError(CAUSE_ZERO_SIZE,
                                   f'image has zero size ({width}x{height})')
    row_bytes = width * info.channels * info.depth_bytes
    if step < row_bytes:
        raise ImageConversionError(
            CAUSE_STEP, f'step {step} is smaller than one row of {width} {info.name} pixels '
            f'({row_bytes} bytes)')
    if len(msg.data) != step * height:
        raise ImageConversionError(
            CAUSE_LENGTH, f'data holds {len(msg.data)} bytes, expected step * height = '
            f'{step} * {height} = {step * height}')
    return info


def image_to_array(msg: Any) -> np.ndarray:
    """Decode an Image into HxW (one channel) or HxWxC in its own encoding and dtype.

    The result never aliases the message's buffer, so the message can be released.
    """
    info = check_image(msg)
    if _CvBridge is not None:
        try:
            return _decode_with_cv_bridge(msg, info)
        except Exception:  # noqa: BLE001 - fall back to the numpy path, which checks again
            pass
    return _decode_with_numpy(msg, info)


def image_to_rgb(msg: Any, mono16_max: float = DEFAULT_MONO16_MAX) -> np.ndarray:
    """Decode an Image for the tracker: HxWx3 uint8 RGB, or HxW uint8 for mono encodings."""
    info = check_image(msg)
    array = image_to_array(msg)
    if info.name == 'rgb8':
        return array
    if info.name == 'bgr8':
        return np.ascontiguousarray(array[:, :, ::-1])
    if info.name == 'rgba8':
        return np.ascontiguousarray(array[:, :, :3])
    if info.name == 'bgra8':
        return np.ascontiguousarray(array[:, :, 2::-1])
    if info.name == 'mono8':
        return array
    return mono16_to_mono8(array, mono16_max)


def mono16_to_mono8(array: np.ndarray, mono16_max: float = DEFAULT_MONO16_MAX) -> np.ndarray:
    """Scale 16-bit intensities to 8 bits by value * 255 / mono16_max, clipped to [0, 255]."""
    if not mono16_max > 0:
        raise ValueError(f'mono16_max must be positive, got {mono16_max!r}')
    scaled = array.astype(np.float32) * np.float32(255.0 / mono16_max)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def array_to_image(array: np.ndarray, encoding: str, header: Any = None,
                   step: int | None = None, is_bigendian: bool = False) -> Any:
    """Build a sensor_msgs/Image from an array laid out as `encoding` says.

    `step` (bytes per row) may exceed the row size: the padding is filled with zeros, as some
    drivers do. `is_bigendian` picks the byte order of 16-bit encodings.
    """
    from sensor_msgs.msg import Image

    info = encoding_info(encoding)
    array = np.asarray(array)
    expected_ndim = 2 if info.channels == 1 else 3
    if array.ndim == 3 and info.channels == 1 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != expected_ndim or (expected_ndim == 3 and array.shape[2] != info.channels):
        raise ValueError(f'{encoding} needs {info.channels} channel(s), got shape {array.shape}')
    if array.dtype != info.dtype:
        raise ValueError(f'{encoding} needs dtype {info.dtype}, got {array.dtype}')
    height, width = array.shape[:2]
    row_bytes = width * info.channels * info.depth_bytes
    step = row_bytes if step is None else int(step)
    if step < row_bytes:
        raise ValueError(f'step {step} is smaller than a row ({row_bytes} bytes)')
    order = '>' if is_bigendian else '<'
    typed = array.astype(info.dtype.newbyteorder(order), copy=False)
    rows = np.zeros((height, step), dtype=np.uint8)
    rows[:, :row_bytes] = typed.reshape(height, -1).view(np.uint8).reshape(height, row_bytes)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = height, width
    msg.encoding = encoding
    msg.is_bigendian = 1 if is_bigendian else 0
    msg.step = step
    msg.data = rows.tobytes()
    return msg


def _decode_with_numpy(msg: Any, info: EncodingInfo) -> np.ndarray:
    """Read rows of `step` bytes, cut the padding, and fix the byte order of 16-bit data."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * info.channels * info.depth_bytes
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)[:, :row_bytes]
    if info.depth_bytes == 1:
        pixels = np.array(raw)
    else:
        order = '>' if msg.is_bigendian else '<'
        pixels = np.ascontiguousarray(raw).view(np.dtype(np.uint16).newbyteorder(order))
        pixels = pixels.astype(np.uint16)  # native byte order, and a copy
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    return pixels.reshape(shape)


def _decode_with_cv_bridge(msg: Any, info: EncodingInfo) -> np.ndarray:  # pragma: no cover
    """Let cv_bridge decode; it knows the real encodings, so aliases keep their own name."""
    array = _CvBridge().imgmsg_to_cv2(msg, desired_encoding='passthrough')
    array = np.array(array, dtype=info.dtype)
    if info.channels == 1 and array.ndim == 3:
        array = array[:, :, 0]
    return array


# --- boxes ----------------------------------------------------------------------------------


def detection_to_box(detection: Any) -> tuple[float, float, float, float]:
    """The 0-based (x, y, w, h) box of a vision_msgs/Detection2D (centre and full size)."""
    bbox = detection.bbox
    w, h = float(bbox.size_x), float(bbox.size_y)
    x = float(bbox.center.position.x) - w / 2.0
    y = float(bbox.center.position.y) - h / 2.0
    return (x, y, w, h)


def check_init_box(box: Sequence[float],
                   image_size: tuple[int, int] | None = None) -> tuple[float, float, float, float]:
    """Validate an initial box; raise ValueError with the reason, or return it as floats.

    Finite values and a positive size are always required. With `image_size` (width,
    height) known, a box wholly outside the image is refused too; one partly outside is
    accepted (the tracker clips it).
    """
    shape = None if image_size is None else (image_size[1], image_size[0])
    validate_box(box, shape)
    values = tuple(float(v) for v in box)
    return values  # type: ignore[return-value]


def box_to_detection(box: Sequence[float], header: Any, track_id: str, score: float,
                     class_id: str = 'target') -> Any:
    """A vision_msgs/Detection2D for a tracked box, stamped with the image's header.

    `score` goes into results[0].hypothesis.score and must already be in [0, 1].
    """
    from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose

    x, y, w, h = (float(v) for v in box)
    detection = Detection2D()
    detection.header = header
    detection.id = track_id
    detection.bbox.center.position.x = x + w / 2.0
    detection.bbox.center.position.y = y + h / 2.0
    detection.bbox.center.theta = 0.0
    detection.bbox.size_x = w
    detection.bbox.size_y = h
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id = class_id
    hypothesis.hypothesis.score = float(min(1.0, max(0.0, score)))
    detection.results.append(hypothesis)
    return detection


def stamp_to_ns(stamp: Any) -> int:
    """A builtin_interfaces/Time as integer nanoseconds (exact, for use as a dictionary key)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
