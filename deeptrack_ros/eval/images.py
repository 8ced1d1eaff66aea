"""Decode bag images (sensor_msgs Image and CompressedImage) to HxWx3 uint8 RGB.

Deliberately minimal and private to `eval`: the node has its own converters. Only the encodings
cameras commonly record are handled (rgb8, bgr8, mono8, rgba8, bgra8, mono16); anything else is
a clear error rather than a wrongly coloured image. Rows are read through `step`, so padded
rows decode correctly, and 16-bit data honours `is_bigendian`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deeptrack_ros.eval.errors import EvalError

_CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, '8uc1': 1, '8uc3': 3}
ENCODINGS = ('rgb8', 'bgr8', 'mono8', 'rgba8', 'bgra8', 'mono16')


def decode_image(message: Any, where: str = 'image') -> np.ndarray:
    """An uncompressed sensor_msgs/Image as an RGB uint8 array."""
    encoding = str(message.encoding).lower()
    height, width, step = int(message.height), int(message.width), int(message.step)
    data = np.asarray(message.data, dtype=np.uint8)
    if encoding in ('mono16', '16uc1'):
        return _mono16(data, height, width, step, bool(message.is_bigendian), where)
    channels = _CHANNELS.get(encoding)
    if channels is None:
        raise EvalError(f'{where}: unsupported image encoding {message.encoding!r} '
                        f'(supported: {", ".join(ENCODINGS)})')
    pixels = _rows(data, height, width * channels, step, where).reshape(height, width, channels)
    if encoding in ('bgr8', '8uc3', 'bgra8'):
        pixels = pixels[:, :, 2::-1]
    elif channels == 4:
        pixels = pixels[:, :, :3]
    elif channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def decode_compressed(message: Any, where: str = 'image') -> np.ndarray:
    """A sensor_msgs/CompressedImage (JPEG, PNG, ...) as an RGB uint8 array."""
    import cv2

    data = np.asarray(message.data, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise EvalError(f'{where}: cannot decode compressed image (format {message.format!r})')
    return np.ascontiguousarray(image[:, :, ::-1])


def encode_rgb8(image: np.ndarray) -> dict[str, Any]:
    """The Image fields (no header) of an RGB uint8 array, rows unpadded."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape[:2]
    return {'height': height, 'width': width, 'encoding': 'rgb8', 'is_bigendian': 0,
            'step': width * 3, 'data': image.reshape(-1)}


def _rows(data: np.ndarray, height: int, row_bytes: int, step: int, where: str) -> np.ndarray:
    """The (height, row_bytes) pixel bytes of a buffer whose rows are `step` bytes apart."""
    if height <= 0 or row_bytes <= 0 or step < row_bytes or data.size < step * (height - 1) \
            + row_bytes:
        raise EvalError(f'{where}: image data of {data.size} bytes does not hold {height} rows '
                        f'of {row_bytes} bytes with step {step}')
    if data.size < step * height:  # the last row may omit its padding
        data = np.concatenate([data, np.zeros(step * height - data.size, dtype=np.uint8)])
    return data[:step * height].reshape(height, step)[:, :row_bytes]


def _mono16(data: np.ndarray, height: int, width: int, step: int, big_endian: bool,
            where: str) -> np.ndarray:
    """16-bit gray to 8-bit by keeping the high byte (a fixed map: no per-frame rescaling,
    which would make the tracker's input flicker with the scene's range)."""
    rows = np.ascontiguousarray(_rows(data, height, width * 2, step, where))
    values = rows.view('>u2' if big_endian else '<u2').reshape(height, width)
    gray = (values >> 8).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
