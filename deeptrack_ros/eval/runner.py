"""The one-pass harness (OTB "OPE"): initialise on the first frame, then track to the end.

Only the tracker's own calls are timed: reading and decoding frames, drawing progress and
writing reports are outside the clock, so fps measures the tracker and not the disk. fps counts
the frames after the first over the time spent in `update` (initialisation, which trains
DeepTrack's network from scratch, is reported separately and never mixed into fps).

A frame for which the tracker gives no box keeps the previous box, as the OTB toolkit does; the
record says so (`reported=False`) so that reports can tell the two apart.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from deeptrack_ros.eval.errors import EvalError
from deeptrack_ros.eval.progress import Progress
from deeptrack_ros.eval.sequences import Sequence, read_frame
from deeptrack_ros.eval.trackers import Box, FrameInfo, Tracker


@dataclass(frozen=True)
class FrameRecord:
    """The harness's view of one frame: the box that counts and how long the tracker took."""

    index: int
    box: Box
    info: FrameInfo
    reported: bool
    """False when the tracker returned no box and the previous one was kept."""
    seconds: float


@dataclass
class RunResult:
    """One tracker on one sequence."""

    tracker: str
    sequence: str
    records: list[FrameRecord] = field(default_factory=list)

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) boxes, one per frame, including the initial box on frame 0."""
        return np.asarray([r.box for r in self.records], dtype=np.float64).reshape(-1, 4)

    @property
    def init_seconds(self) -> float:
        return self.records[0].seconds if self.records else 0.0

    @property
    def track_seconds(self) -> float:
        """Wall time of the `update` calls (frames after the first)."""
        return math.fsum(r.seconds for r in self.records[1:])

    @property
    def fps(self) -> float:
        """Frames after the first per second of `update` time; 0 when nothing was tracked."""
        seconds = self.track_seconds
        return (len(self.records) - 1) / seconds if seconds > 0 else 0.0


def check_init_box(box: Box, shape: tuple[int, ...], source: str) -> None:
    """Reject an initial box that is empty or does not overlap the image.

    A box partly outside the image is legitimate (targets enter and leave the frame); one with
    no pixel inside cannot be learned from and always points to a wrong coordinate convention.
    """
    from deeptrack_ros.core.boxes import validate_box  # the core's rule, imported when used

    try:
        validate_box(box, shape)
    except ValueError as exc:
        raise EvalError(f'{source}: initial {exc}') from None


def track_frames(tracker: Tracker, images: Iterable[np.ndarray], init_box: Box,
                 clock: Callable[[], float] = time.perf_counter) -> Iterator[FrameRecord]:
    """Drive a tracker over images, yielding one record per frame as soon as it is known.

    A generator, so that the bag replay can write each frame's messages as it goes and a
    reader can stream frames without holding a sequence in memory.
    """
    previous: Box = tuple(float(v) for v in init_box)  # type: ignore[assignment]
    for index, image in enumerate(images):
        if index == 0:
            start = clock()
            tracker.init(image, previous)
            seconds = clock() - start
            yield FrameRecord(0, previous, tracker.info(), True, seconds)
            continue
        start = clock()
        box = tracker.update(image)
        seconds = clock() - start
        reported = box is not None
        if reported:
            previous = tuple(float(v) for v in box)  # type: ignore[assignment, union-attr]
        yield FrameRecord(index, previous, tracker.info(), reported, seconds)


def scale_box(box: Box, scale: float) -> Box:
    """A 0-based (x, y, w, h) box in an image resized by `scale` (corners scale with it)."""
    return tuple(float(v) * scale for v in box)  # type: ignore[return-value]


def resize_image(image: np.ndarray, scale: float) -> np.ndarray:
    """An image resized by `scale`: area averaging when shrinking (no aliasing), bilinear when
    enlarging (what a camera of finer resolution gives, without invented detail)."""
    import cv2  # as read_frame: only runs that read frames need OpenCV

    if scale == 1:
        return image
    height, width = image.shape[:2]
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=method)  # a new, contiguous array


def gray_image(image: np.ndarray) -> np.ndarray:
    """An RGB image as a monochrome camera gives it, in three equal channels (ITU-R 601
    luma, what a mono8 stream and OpenCV's conversion hold)."""
    import cv2

    return np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)


def sequence_images(sequence: Sequence) -> Iterator[np.ndarray]:
    """The frames of a sequence as RGB arrays, resized by its image scale and turned gray if
    it says so, checking the initial box on the first."""
    for index, path in enumerate(sequence.frames):
        image = resize_image(read_frame(path), sequence.image_scale)
        if sequence.gray:
            image = gray_image(image)
        if index == 0:
            check_init_box(scale_box(sequence.init_box, sequence.image_scale), image.shape,
                           f'{sequence.source}:1')
        yield image


def run_sequence(tracker: Tracker, sequence: Sequence, progress: Progress | None = None,
                 prefix: str = '') -> RunResult:
    """Run one tracker over one sequence (one-pass evaluation); `prefix` (e.g. '[3/22] ')
    goes in front of the progress label. The tracker sees the images resized by the
    sequence's image scale; the result's boxes are in the recorded images' pixels."""
    result = RunResult(tracker.name, sequence.name)
    if progress is not None:
        progress.start(f'{prefix}{tracker.name} {sequence.name}', len(sequence))
    scale = sequence.image_scale
    init_box = scale_box(sequence.init_box, scale)
    for record in track_frames(tracker, sequence_images(sequence), init_box):
        if scale != 1:  # boxes back into the recorded pixels, where the ground truth is
            record = dataclasses.replace(record, box=scale_box(record.box, 1.0 / scale))
        result.records.append(record)
        if progress is not None:
            progress.advance()
    if progress is not None:
        progress.finish(f'{result.fps:.1f} fps')
    return result
