"""OTB-format sequence folders: discovery, ground truth parsing and frame loading.

A sequence folder holds `img/` (frames, sorted by file name; OTB numbers them from any start,
e.g. David from 0300) and `groundtruth_rect.txt`, one 1-based `x, y, w, h` row per frame,
separated by commas, whitespace or both. A folder with several targets holds
`groundtruth_rect.N.txt`, one file per target; each is its own sequence `NAME-N` and the plain
`groundtruth_rect.txt` (a copy of target 1 in OTB) is then ignored.

Conventions that the rest of `eval` relies on:
- ground truth is converted once, here, to 0-based pixel boxes (x - 1, y - 1, w, h), the
  convention of the tracker core;
- when the ground truth is shorter than the frames only the annotated prefix is a sequence;
- rows with a zero (or negative, or NaN) width or height stay in the array but are marked
  invalid, so they are excluded from scoring without shifting frame numbers;
- frames are returned as HxWx3 uint8 RGB (gray JPEGs are expanded to three channels);
- a sequence played backwards (`reversed_sequence`) is named `NAME-reversed` and starts from
  its last annotated frame; one thinned to every N-th frame (`every_nth_frame`) is named
  `NAME-stepN` and keeps the first frame; one whose images are resized (`rescaled_sequence`)
  is named `NAME-scaleS` and keeps its ground truth in the recorded images' pixels; one shown
  in gray (`gray_sequence`) is named `NAME-gray`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deeptrack_ros.eval.errors import EvalError, where

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
_SEPARATORS = re.compile(r'[,\s]+')
_TARGET_FILE = re.compile(r'^groundtruth_rect\.(\d+)\.txt$')


@dataclass(frozen=True)
class Sequence:
    """One tracking sequence: its frames and 0-based ground truth of the same length."""

    name: str
    frames: tuple[Path, ...]
    groundtruth: np.ndarray
    """(N, 4) float64 0-based (x, y, w, h); invalid rows are kept (see `valid`)."""
    source: Path
    """The ground-truth file, named in error messages."""
    image_scale: float = 1.0
    """Factor the images are resized by before a tracker sees them (1 = as recorded). The
    ground truth, and every box a run reports, stay in the recorded images' pixels."""
    gray: bool = False
    """Whether the images are turned to gray (three equal channels) before tracking."""

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def valid(self) -> np.ndarray:
        """Rows that are scored: finite ground truth with positive width and height."""
        return valid_boxes(self.groundtruth)

    @property
    def init_box(self) -> tuple[float, float, float, float]:
        """The first frame's box, which the tracker is initialised with."""
        x, y, w, h = (float(v) for v in self.groundtruth[0])
        return (x, y, w, h)


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """Mask of boxes that can be scored (finite, positive width and height)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(boxes).all(axis=1)
    with np.errstate(invalid='ignore'):
        return finite & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def parse_groundtruth(path: Path, one_based: bool = True) -> np.ndarray:
    """Read an OTB ground-truth file into (N, 4) 0-based boxes.

    Blank lines at the end are ignored (many files end with one); any other line must hold
    exactly four numbers, or an `EvalError` names the file and line. `NaN` is accepted (some
    OTB-style datasets mark an absent target that way) and makes the row invalid.
    """
    try:
        text = path.read_text(encoding='utf-8', errors='replace')
    except OSError as exc:
        raise EvalError(f'{where(path)}: cannot read ground truth ({exc.strerror})') from exc
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    rows: list[list[float]] = []
    for number, line in enumerate(lines, start=1):
        fields = [f for f in _SEPARATORS.split(line.strip()) if f]
        if len(fields) != 4:
            raise EvalError(f'{where(path, number)}: expected 4 numbers (x, y, w, h), '
                            f'got {line.strip()!r}')
        try:
            row = [float(f) for f in fields]
        except ValueError:
            raise EvalError(f'{where(path, number)}: not a number in {line.strip()!r}') from None
        if any(math.isinf(v) for v in row):
            raise EvalError(f'{where(path, number)}: infinite value in {line.strip()!r}')
        rows.append(row)
    if not rows:
        raise EvalError(f'{where(path)}: ground truth is empty')
    boxes = np.asarray(rows, dtype=np.float64)
    if one_based:
        boxes[:, :2] -= 1.0
    return boxes


def list_frames(folder: Path) -> list[Path]:
    """Image files of a sequence's `img/` folder, in file-name order."""
    if not folder.is_dir():
        raise EvalError(f'{where(folder)}: no such image folder')
    frames = sorted(p for p in folder.iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not frames:
        raise EvalError(f'{where(folder)}: no images ({", ".join(IMAGE_SUFFIXES)})')
    return frames


def groundtruth_files(folder: Path) -> list[tuple[str, Path]]:
    """(sequence name, file) of every target of a sequence folder, targets in number order."""
    targets = []
    for path in folder.glob('groundtruth_rect.*.txt'):
        match = _TARGET_FILE.match(path.name)
        if match:
            targets.append((int(match.group(1)), path))
    if targets:
        return [(f'{folder.name}-{n}', p) for n, p in sorted(targets)]
    plain = folder / 'groundtruth_rect.txt'
    if plain.is_file():
        return [(folder.name, plain)]
    return []


def is_sequence_folder(folder: Path) -> bool:
    """Whether a folder looks like an OTB sequence (an img/ folder and a ground-truth file)."""
    return (folder / 'img').is_dir() and bool(groundtruth_files(folder))


def load_folder(folder: Path) -> list[Sequence]:
    """Every sequence (one per target) of one OTB sequence folder."""
    folder = Path(folder)
    files = groundtruth_files(folder)
    if not files:
        raise EvalError(f'{where(folder)}: no groundtruth_rect.txt or groundtruth_rect.N.txt')
    frames = list_frames(folder / 'img')
    sequences = []
    for name, path in files:
        boxes = parse_groundtruth(path)
        if len(boxes) > len(frames):
            raise EvalError(f'{where(path)}: {len(boxes)} ground-truth rows but only '
                            f'{len(frames)} images in {folder / "img"}')
        if not valid_boxes(boxes[:1])[0]:
            raise EvalError(f'{where(path, 1)}: the first box (the initialisation) is empty')
        sequences.append(Sequence(name, tuple(frames[:len(boxes)]), boxes, path))
    return sequences


REVERSED_SUFFIX = '-reversed'


def reversed_sequence(sequence: Sequence) -> Sequence:
    """The same frames and ground truth played from the last annotated frame back to the first.

    Why: a benchmark of ten sequences is small, and a tracker tuned on it can fit its motions.
    Played backwards, every sequence is a new test with the same annotation: the target's
    motion, scale change and occlusions run the other way and the tracker starts from another
    appearance (the last frame's), while the frames stay real camera images. Trailing frames
    whose box is invalid (target absent) are left out, so the first frame of the reversed
    sequence has a box to start from; an `EvalError` names the file when no row is valid.
    """
    valid = sequence.valid
    if not valid.any():
        raise EvalError(f'{where(sequence.source)}: no valid box to start a reversed run from')
    end = int(np.flatnonzero(valid)[-1]) + 1
    return dataclasses.replace(sequence, name=f'{sequence.name}{REVERSED_SUFFIX}',
                               frames=tuple(reversed(sequence.frames[:end])),
                               groundtruth=sequence.groundtruth[:end][::-1].copy())


STEP_SUFFIX = '-step'


def every_nth_frame(sequence: Sequence, step: int) -> Sequence:
    """Every `step`-th frame of the sequence and its ground truth, from the first.

    Why: between two frames the tracker sees, the target moves `step` times as far as the
    recording shows. That is what a robot sees from a slower camera, and what the node itself
    does when it falls behind its camera and drops the oldest images; the benchmark's own
    frame rate never tests it. The first frame (the initialisation) is kept, so the result is
    comparable with the full sequence; step 1 returns the sequence unchanged.
    """
    if step < 1:
        raise EvalError(f'the frame step must be 1 or more, not {step}')
    if step == 1:
        return sequence
    return dataclasses.replace(sequence, name=f'{sequence.name}{STEP_SUFFIX}{step}',
                               frames=sequence.frames[::step],
                               groundtruth=sequence.groundtruth[::step].copy())


SCALE_SUFFIX = '-scale'


def rescaled_sequence(sequence: Sequence, scale: float) -> Sequence:
    """The same sequence with its images resized by `scale` before tracking.

    Why: a tracker's constants in pixels (how far the target may move, how large a window
    is) were tuned on the benchmark's own resolutions, 128 x 96 to 704 x 400 here, while a
    robot's camera may give 1280 x 720 or 1920 x 1080, where the target is larger and moves
    farther in pixels; or a node may run on a reduced image. Resized images test that with the
    same real recordings. The ground truth stays in the recorded pixels and the harness maps
    the tracker's boxes back (`runner.run_sequence`), so precision@20 keeps its meaning and
    results compare with the unscaled run. Scale 1 returns the sequence unchanged.
    """
    if not (math.isfinite(scale) and scale > 0):
        raise EvalError(f'the image scale must be a positive number, not {scale}')
    if scale == 1:
        return sequence
    return dataclasses.replace(sequence, name=f'{sequence.name}{SCALE_SUFFIX}{scale:g}',
                               image_scale=sequence.image_scale * scale)


GRAY_SUFFIX = '-gray'


def gray_sequence(sequence: Sequence) -> Sequence:
    """The same sequence seen by a monochrome camera: every image turned to gray.

    Why: many robot cameras are monochrome (mono8), while nine of the ten benchmark sequences
    here are in colour, so the gray path of a tracker (DeepTrack's LCN cues, filters without
    colour) is barely measured by the benchmark itself. Converting the same recordings tests
    it on real images. An already gray sequence stays as it is.
    """
    if sequence.gray:
        return sequence
    return dataclasses.replace(sequence, name=f'{sequence.name}{GRAY_SUFFIX}', gray=True)


def discover(root: Path, names: list[str] | None = None) -> list[Sequence]:
    """All sequences under `root` (a benchmark folder, or one sequence folder itself).

    `names` selects sequences by sequence name (`Jogging-1`) or folder name (`Jogging`, meaning
    all its targets); an unknown name is an error rather than a silently smaller benchmark.
    """
    root = Path(root)
    if not root.is_dir():
        raise EvalError(f'{where(root)}: no such folder')
    if is_sequence_folder(root):
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and is_sequence_folder(p))
    if not folders:
        raise EvalError(f'{where(root)}: no OTB sequence folders (img/ + groundtruth_rect.txt)')
    if not names:
        return [s for f in folders for s in load_folder(f)]
    wanted = set(names)
    known = {f.name for f in folders}
    sequences: list[Sequence] = []
    for folder in folders:
        targets = {n for n, _ in groundtruth_files(folder)}
        known |= targets
        whole = folder.name in wanted
        if whole or targets & wanted:
            sequences += [s for s in load_folder(folder) if whole or s.name in wanted]
    missing = [n for n in names if n not in known]
    if missing:
        raise EvalError(f'{where(root)}: no sequence named {", ".join(missing)}')
    return sequences


def read_frame(path: Path) -> np.ndarray:
    """Load one frame as HxWx3 uint8 RGB, or raise an `EvalError` naming the file."""
    import cv2  # imported here so that metrics-only users never need OpenCV

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise EvalError(f'{where(path)}: cannot read image')
    return np.ascontiguousarray(image[:, :, ::-1])
