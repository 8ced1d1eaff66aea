"""Offline replay of a rosbag2 bag through a tracker (the `bag` command).

Every image of the image topic is read in log order, tracked, and written to a new bag together
with one `vision_msgs/Detection2D` and (when the TrackStatus type is known) one
`deeptrack_ros/TrackStatus` per tracked image, each stamped with its image's header, as the node
does live. Replay is deterministic (a seeded tracker, every frame, no clock, no dropping) and
runs as fast as the tracker allows.

Initialisation is either a box given on the command line (on the first image) or the first
Detection2D of an init topic (on the image with that stamp, or the first one after it; earlier
images are copied without detections). Ground truth is either a Detection2D topic, matched to
images by header stamp, or an OTB-style text file (1-based, one row per image in bag order).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deeptrack_ros.eval import rosmsgs
from deeptrack_ros.eval.bags import BagImage, BagReader, BagWriter
from deeptrack_ros.eval.errors import EvalError, where
from deeptrack_ros.eval.metrics import score_sequence
from deeptrack_ros.eval.progress import Progress
from deeptrack_ros.eval.report import Evaluation, write_frames_csv
from deeptrack_ros.eval.runner import FrameRecord, RunResult, check_init_box, track_frames
from deeptrack_ros.eval.sequences import parse_groundtruth, valid_boxes
from deeptrack_ros.eval.trackers import Box, Tracker

DETECTION_TOPIC = '/deeptrack/detection'
STATUS_TOPIC = '/deeptrack/status'
OUTPUT_BAG = 'bag'
"""Name of the output bag folder inside --out."""
TRACK_ID = '1'
"""Detection2D.id and TrackStatus.track_id: replay follows one target."""


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay and how to initialise and score it."""

    bag: Path
    image_topic: str
    init_box: Box | None = None
    init_topic: str | None = None
    gt_topic: str | None = None
    gt_file: Path | None = None
    storage: str | None = None
    """Output storage; None keeps the input bag's."""
    detection_topic: str = DETECTION_TOPIC
    status_topic: str = STATUS_TOPIC

    @property
    def name(self) -> str:
        """The sequence name used in reports: the bag's folder (or file) name."""
        path = Path(self.bag).absolute()
        return path.stem if path.is_file() else path.name


@dataclass
class ReplayOutcome:
    """What a replay produced (the bag and CSV are already written)."""

    run: RunResult
    images: int
    detections: int
    statuses: int
    evaluation: Evaluation | None


def replay(request: ReplayRequest, tracker: Tracker, out_dir: Path, seed: int | None = None,
           progress: Progress | None = None) -> ReplayOutcome:
    """Replay `request.bag` through `tracker`, writing `out_dir/bag` and the per-frame CSV."""
    if (request.init_box is None) == (request.init_topic is None):
        raise EvalError('give exactly one of --init-box and --init-topic')
    with BagReader(request.bag) as reader:
        total = reader.count(request.image_topic)
        msgtype, msgdef, digest, qos = reader.image_connection_info(request.image_topic)
        init_stamp, init_box, init_source = _initialisation(request, reader)
        gt_by_stamp = (dict(_first_per_stamp(reader.detections(request.gt_topic)))
                       if request.gt_topic else None)
        gt_rows = parse_groundtruth(request.gt_file) if request.gt_file else None
        if gt_rows is not None and total and len(gt_rows) > total:
            raise EvalError(f'{where(request.gt_file or "")}: {len(gt_rows)} ground-truth rows '
                            f'but the bag has {total} images on {request.image_topic}')

        storage = request.storage or reader.storage
        writer = BagWriter(out_dir / OUTPUT_BAG, storage)
        with writer:
            writer.add_topic(request.image_topic, msgtype, msgdef, digest, qos)
            writer.add_topic(request.detection_topic, rosmsgs.DETECTION)
            with_status = rosmsgs.has_status_type()
            if with_status:
                writer.add_topic(request.status_topic, rosmsgs.STATUS)

            run = RunResult(tracker.name, request.name)
            tracked: list[tuple[int, int]] = []  # (image index, stamp): never the pixels
            current: list[BagImage] = []
            counts = {'images': 0, 'detections': 0, 'statuses': 0}

            def feed() -> Iterator[np.ndarray]:
                """Copy images up to the initial one, then hand images to the tracker."""
                started = False
                for item in reader.images(request.image_topic):
                    writer.write_raw(request.image_topic, item.log_ns, item.raw)
                    counts['images'] += 1
                    if not started:
                        started = init_stamp is None or rosmsgs.stamp_ns(item.header) >= init_stamp
                        if not started:
                            if progress is not None:
                                progress.advance()
                            continue
                        check_init_box(init_box, item.image.shape, init_source)
                    current[:] = [item]
                    yield item.image

            if progress is not None:
                progress.start(f'{tracker.name} {request.name}', total)
            for record in track_frames(tracker, feed(), init_box):
                item = current[0]
                tracked.append((item.index, rosmsgs.stamp_ns(item.header)))
                run.records.append(record)
                writer.write(request.detection_topic, item.log_ns,
                             _detection(item.header, record))
                counts['detections'] += 1
                if with_status:
                    values = status_values(record, counts['images'], counts['detections'])
                    writer.write(request.status_topic, item.log_ns,
                                 rosmsgs.status(item.header, values))
                    counts['statuses'] += 1
                if progress is not None:
                    progress.advance()
            if progress is not None:
                progress.finish(f'{run.fps:.1f} fps')
    if not run.records:
        where_init = init_source if init_stamp is not None else request.image_topic
        raise EvalError(f'{where(request.bag)}: no image to track on {request.image_topic} '
                        f'(initialisation: {where_init})')

    write_frames_csv(out_dir / tracker.name / f'{request.name}.csv', run)
    evaluation = None
    if gt_by_stamp is not None or gt_rows is not None:
        gt = _groundtruth(tracked, gt_by_stamp, gt_rows)
        if not valid_boxes(gt).any():
            source = request.gt_topic if gt_by_stamp is not None else request.gt_file
            raise EvalError(f'{where(request.bag)}: the ground truth ({source}) has no box for '
                            f'any tracked image (stamps must equal the images\' header stamps)')
        evaluation = Evaluation(device=tracker.device, seed=seed)
        evaluation.add(tracker.name, request.name, score_sequence(run.boxes, gt), run)
    return ReplayOutcome(run, counts['images'], counts['detections'], counts['statuses'],
                         evaluation)


def _initialisation(request: ReplayRequest,
                    reader: BagReader) -> tuple[int | None, Box, str]:
    """(stamp to start at or None for the first image, box, where the box came from)."""
    if request.init_box is not None:
        return None, request.init_box, '--init-box'
    assert request.init_topic is not None
    found = reader.detections(request.init_topic)
    if not found:
        raise EvalError(f'{where(request.bag)}: no Detection2D on {request.init_topic!r} '
                        f'to initialise from')
    stamp, box = found[0]
    return stamp, box, f'{request.bag} {request.init_topic}'


def _first_per_stamp(items: list[tuple[int, Box]]) -> Iterator[tuple[int, Box]]:
    seen: set[int] = set()
    for stamp, box in items:
        if stamp not in seen:
            seen.add(stamp)
            yield stamp, box


def _groundtruth(tracked: list[tuple[int, int]], by_stamp: dict[int, Box] | None,
                 rows: np.ndarray | None) -> np.ndarray:
    """Ground truth aligned with the tracked (index, stamp) images; NaN rows (unscored) where
    there is none."""
    gt = np.full((len(tracked), 4), np.nan)
    for i, (index, stamp) in enumerate(tracked):
        if by_stamp is not None:
            box = by_stamp.get(stamp)
            if box is not None:
                gt[i] = box
        elif rows is not None and index < len(rows):
            gt[i] = rows[index]
    return gt


def _detection(header: Any, record: FrameRecord) -> Any:
    """The Detection2D of one frame; the hypothesis score is the tracker's confidence, or 1/0
    for trackers without one (box reported or kept from the previous frame)."""
    return rosmsgs.detection(header, record.box, _confidence(record), track_id=TRACK_ID)


def status_values(record: FrameRecord, received: int, processed: int,
                  track_id: str = TRACK_ID) -> dict[str, Any]:
    """The TrackStatus fields of one frame (msg/TrackStatus.msg), by name.

    Offline there is no queue, so nothing is dropped or rejected, and the latency is what it
    would be live with an idle tracker: the frame's own processing time. Trackers without a
    confidence report 1 when they gave a box and 0 when the previous box was kept.
    """
    info = record.info
    result = info.result
    lost = info.lost if info.lost is not None else not record.reported
    x, y, w, h = record.box
    processing_ms = record.seconds * 1000.0
    return {
        'state': rosmsgs.constant(rosmsgs.STATUS, 'STATE_LOST' if lost else 'STATE_TRACKING'),
        'track_id': track_id,
        'x': x, 'y': y, 'width': w, 'height': h,
        'score': info.score if info.score is not None else 0.0,
        'confidence': _confidence(record),
        'quality': info.quality if info.quality is not None else 0.0,
        'model_updated': bool(info.updated),
        'update_iterations': int(result.iterations) if result is not None and info.updated
        else 0,
        'frames_received': received,
        'frames_processed': processed,
        'frames_dropped': 0,
        'frames_rejected': 0,
        'processing_time_ms': processing_ms,
        'latency_ms': processing_ms,
    }


def _confidence(record: FrameRecord) -> float:
    info = record.info
    return info.confidence if info.confidence is not None else float(record.reported)
