"""Image <-> numpy and box <-> Detection2D conversions, with no node running.

Round trips use random arrays for every encoding, with and without row padding and in both
byte orders for 16-bit data, because those are exactly the cases a driver gets wrong and a
hand-written decoder mishandles. Each malformed case must raise ImageConversionError with its
own cause, since the node counts and logs rejections per cause.
"""

import math

import numpy as np
import pytest

pytest.importorskip('sensor_msgs.msg')
pytest.importorskip('vision_msgs.msg')

from deeptrack_ros.ros import conversions  # noqa: E402
from deeptrack_ros.ros.conversions import (ImageConversionError, array_to_image,  # noqa: E402
                                           box_to_detection, check_image, check_init_box,
                                           detection_to_box, image_to_array, image_to_rgb,
                                           mono16_to_mono8, stamp_to_ns)

SHAPES = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, 'mono16': 1,
          '8UC1': 1, '8UC3': 3, '16UC1': 1}


def random_array(encoding, height=7, width=5, seed=0):
    rng = np.random.default_rng(seed)
    channels = SHAPES[encoding]
    wide = encoding in ('mono16', '16UC1')
    dtype = np.uint16 if wide else np.uint8
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)


def test_numpy_path_runs_here():
    """cv_bridge is optional; this environment has none, so the numpy decoder is tested."""
    try:
        import cv_bridge  # noqa: F401
    except ImportError:
        assert conversions._CvBridge is None


@pytest.mark.parametrize('encoding', sorted(SHAPES))
@pytest.mark.parametrize('padding', [0, 3])
@pytest.mark.parametrize('bigendian', [False, True])
def test_round_trip_every_encoding(encoding, padding, bigendian):
    array = random_array(encoding)
    row_bytes = array.shape[1] * SHAPES[encoding] * array.dtype.itemsize
    msg = array_to_image(array, encoding, step=row_bytes + padding, is_bigendian=bigendian)

    assert (msg.height, msg.width, msg.step) == (7, 5, row_bytes + padding)
    assert len(msg.data) == msg.step * msg.height
    decoded = image_to_array(msg)
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)


def test_row_padding_is_ignored_not_read_as_pixels():
    array = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = array_to_image(array, 'rgb8', step=16)
    raw = bytearray(msg.data)
    raw[9:16] = b'\xff' * 7  # garbage in row 0's padding
    raw[25:32] = b'\xee' * 7
    msg.data = bytes(raw)
    np.testing.assert_array_equal(image_to_array(msg), array)


def test_mono16_byte_order_is_honoured():
    array = np.array([[0x0102, 0xA0B0]], dtype=np.uint16)
    little = array_to_image(array, 'mono16', is_bigendian=False)
    big = array_to_image(array, 'mono16', is_bigendian=True)
    assert bytes(little.data) == b'\x02\x01\xb0\xa0'
    assert bytes(big.data) == b'\x01\x02\xa0\xb0'
    np.testing.assert_array_equal(image_to_array(little), array)
    np.testing.assert_array_equal(image_to_array(big), array)
    # The same bytes read with the flag flipped give swapped values: the flag is used.
    big.is_bigendian = 0
    np.testing.assert_array_equal(image_to_array(big), array.byteswap())


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', '8UC3'])
def test_colour_encodings_reach_the_tracker_as_rgb(encoding):
    rgb = random_array('rgb8', seed=3)
    layout = {'rgb8': rgb, 'bgr8': rgb[:, :, ::-1], '8UC3': rgb[:, :, ::-1],
              'rgba8': np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)]),
              'bgra8': np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 9, np.uint8)])}
    out = image_to_rgb(array_to_image(np.ascontiguousarray(layout[encoding]), encoding,
                                      step=rgb.shape[1] * SHAPES[encoding] + 2))
    assert out.dtype == np.uint8 and out.shape == rgb.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize('encoding', ['mono8', '8UC1'])
def test_mono8_reaches_the_tracker_as_gray(encoding):
    gray = random_array('mono8')
    out = image_to_rgb(array_to_image(gray, encoding))
    assert out.shape == gray.shape
    np.testing.assert_array_equal(out, gray)


@pytest.mark.parametrize('encoding', ['mono16', '16UC1'])
def test_mono16_is_scaled_to_eight_bits(encoding):
    array = np.array([[0, 257, 65535], [4095, 2048, 100]], dtype=np.uint16)
    out = image_to_rgb(array_to_image(array, encoding, is_bigendian=True))
    np.testing.assert_array_equal(out, [[0, 1, 255], [16, 8, 0]])
    twelve_bit = image_to_rgb(array_to_image(array, encoding), mono16_max=4095.0)
    np.testing.assert_array_equal(twelve_bit, [[0, 16, 255], [255, 128, 6]])
    assert out.dtype == np.uint8


def test_mono16_scale_must_be_positive():
    with pytest.raises(ValueError, match='positive'):
        mono16_to_mono8(np.zeros((2, 2), np.uint16), 0.0)


def malformed(cause):
    msg = array_to_image(random_array('rgb8'), 'rgb8')
    if cause == 'unsupported_encoding':
        msg.encoding = 'yuv422'
    elif cause == 'zero_size':
        msg.width, msg.step, msg.data = 0, 0, b''
    elif cause == 'step_too_small':
        msg.step = 14  # a row of 5 rgb8 pixels is 15 bytes
        msg.data = bytes(14 * msg.height)
    elif cause == 'data_length':
        msg.data = bytes(len(msg.data) - 1)
    return msg


@pytest.mark.parametrize('cause', ['unsupported_encoding', 'zero_size', 'step_too_small',
                                   'data_length'])
def test_each_malformed_image_has_its_cause(cause):
    msg = malformed(cause)
    for convert in (check_image, image_to_array, image_to_rgb):
        with pytest.raises(ImageConversionError) as info:
            convert(msg)
        assert info.value.cause == cause
        assert str(info.value)


def test_malformed_messages_name_the_numbers():
    with pytest.raises(ImageConversionError, match=r'step \* height = 15 \* 7 = 105'):
        check_image(malformed('data_length'))
    with pytest.raises(ImageConversionError, match='yuv422'):
        check_image(malformed('unsupported_encoding'))


def test_array_to_image_refuses_mismatched_arrays():
    with pytest.raises(ValueError, match='channel'):
        array_to_image(np.zeros((4, 4), np.uint8), 'rgb8')
    with pytest.raises(ValueError, match='dtype'):
        array_to_image(np.zeros((4, 4), np.uint16), 'mono8')
    with pytest.raises(ValueError, match='step'):
        array_to_image(np.zeros((4, 4), np.uint8), 'mono8', step=3)


def test_header_is_carried():
    from std_msgs.msg import Header

    header = Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 12, 34
    msg = array_to_image(random_array('mono8'), 'mono8', header=header)
    assert msg.header.frame_id == 'cam'
    assert stamp_to_ns(msg.header.stamp) == 12_000_000_034


def test_box_detection_round_trip():
    from std_msgs.msg import Header

    header = Header(frame_id='cam')
    header.stamp.sec = 5
    detection = box_to_detection((10.5, 20.0, 30.0, 40.0), header, 'track-3', 1.7, 'target')
    assert detection.header == header
    assert detection.id == 'track-3'
    assert (detection.bbox.center.position.x, detection.bbox.center.position.y) == (25.5, 40.0)
    assert (detection.bbox.size_x, detection.bbox.size_y) == (30.0, 40.0)
    assert detection.results[0].hypothesis.class_id == 'target'
    assert detection.results[0].hypothesis.score == 1.0  # clamped into [0, 1]
    assert detection_to_box(detection) == (10.5, 20.0, 30.0, 40.0)


@pytest.mark.parametrize('box, reason', [
    ((math.nan, 0, 10, 10), 'finite'),
    ((0, 0, math.inf, 10), 'finite'),
    ((0, 0, 0, 10), 'positive size'),
    ((0, 0, 10, -3), 'positive size'),
    ((200, 10, 10, 10), 'wholly outside'),
    ((-30, 10, 20, 10), 'wholly outside'),
])
def test_bad_init_boxes_are_refused_with_a_reason(box, reason):
    with pytest.raises(ValueError, match=reason):
        check_init_box(box, (160, 120))


def test_init_box_partly_outside_or_without_image_size_is_accepted():
    assert check_init_box((-5, -5, 20, 20), (160, 120)) == (-5.0, -5.0, 20.0, 20.0)
    assert check_init_box((500, 500, 20, 20)) == (500.0, 500.0, 20.0, 20.0)
