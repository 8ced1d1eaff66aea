"""One interface for every tracker the harness runs: DeepTrack, OpenCV's peers and a baseline.

The interface is the got10k one, `init(image, box)` then `update(image) -> box or None`, because
it is the smallest thing both DeepTrack and OpenCV fit: images are HxWx3 uint8 RGB and boxes
0-based (x, y, w, h) floats everywhere in `eval`. `None` means "no box this frame" and the
harness keeps the previous box, as the OTB protocol does. `info()` gives what the last call
knew beyond the box (score, quality, ...), empty for trackers that have no such notion.

DeepTrack's core is imported only when a DeepTrack adapter is built, so the peers, the harness
and the tests run where torch or the core are not available.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from deeptrack_ros.eval.errors import EvalError

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FrameInfo:
    """What a tracker reported about its last frame beyond the box (None = not applicable)."""

    score: float | None = None
    confidence: float | None = None
    quality: float | None = None
    updated: bool | None = None
    lost: bool | None = None
    result: Any = None
    """The tracker's own result object (DeepTrack's `TrackResult`), for the bag status."""


class Tracker(ABC):
    """A single-target tracker driven frame by frame by the harness."""

    name: str = 'tracker'
    device: str = 'cpu'

    @abstractmethod
    def init(self, image: np.ndarray, box: Box) -> None:
        """Start tracking the object in `box` (0-based x, y, w, h) of the RGB `image`."""

    @abstractmethod
    def update(self, image: np.ndarray) -> Box | None:
        """Locate the object in the next RGB frame; None if the tracker has no box."""

    def info(self) -> FrameInfo:
        """Extra facts about the last `init` / `update` call."""
        return FrameInfo()


class IdentityTracker(Tracker):
    """Reports the initial box forever: the floor any tracker must beat, and a harness test
    double that costs nothing (used by the bag round-trip tests through `--tracker identity`)."""

    name = 'identity'

    def __init__(self) -> None:
        self._box: Box | None = None

    def init(self, image: np.ndarray, box: Box) -> None:
        self._box = tuple(float(v) for v in box)  # type: ignore[assignment]

    def update(self, image: np.ndarray) -> Box | None:
        return self._box


# --- OpenCV peers -------------------------------------------------------------------------

_OPENCV_KINDS = {'csrt': 'TrackerCSRT', 'kcf': 'TrackerKCF', 'mil': 'TrackerMIL'}


def opencv_constructor(kind: str) -> Callable[[], Any]:
    """Find the constructor of an OpenCV tracker in whichever place this OpenCV version has it.

    OpenCV moved trackers around: 3.x and 4.x have `cv2.TrackerX_create`, some builds only the
    class method `cv2.TrackerX.create`, and since 4.5.1 the old implementations live in
    `cv2.legacy`. The modern API is tried first because its CSRT/KCF are the maintained ones.
    """
    import cv2

    cls = _OPENCV_KINDS[kind]
    legacy = getattr(cv2, 'legacy', None)
    candidates = [getattr(cv2, f'{cls}_create', None),
                  getattr(getattr(cv2, cls, None), 'create', None),
                  getattr(legacy, f'{cls}_create', None),
                  getattr(getattr(legacy, cls, None), 'create', None)]
    for candidate in candidates:
        if callable(candidate):
            return candidate
    raise EvalError(f'OpenCV {cv2.__version__} has no {cls} (install opencv-contrib-python)')


def opencv_box(box: Box) -> tuple[int, int, int, int]:
    """Round a float box to the integer rectangle OpenCV's modern trackers require.

    Corners are rounded (not truncated, which shifts every box up-left by half a pixel on
    average) and the size is taken from the rounded far corner so the box keeps its extent.
    """
    x, y, w, h = box
    left, top = round(x), round(y)
    right, bottom = round(x + w), round(y + h)
    return (int(left), int(top), int(max(1, right - left)), int(max(1, bottom - top)))


def reseed_opencv(seed: int | None) -> None:
    """Reset the random state OpenCV's trackers draw from, so a run does not depend on what ran
    before it in the same process.

    MIL draws its Haar features with the C library's `rand()` and samples with `cv::theRNG()`;
    both are process-global, so without this a sequence's MIL result depends on which sequences
    were tracked earlier (0.49 vs 0.56 mean P@20 on the same data, only the order changed).
    `None` restores the states a fresh process starts with (srand(1), the default cv::RNG).
    """
    import ctypes
    import ctypes.util

    import cv2

    cv2.setRNGSeed(0 if seed is None else int(seed))  # 0 selects OpenCV's default state
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or None)
        libc.srand(ctypes.c_uint(1 if seed is None else int(seed) & 0xFFFFFFFF))
    except (OSError, AttributeError):  # no C library to reach (unusual platforms): best effort
        pass


class OpenCVTracker(Tracker):
    """CSRT, KCF or MIL from OpenCV (contrib), fed BGR as OpenCV expects."""

    def __init__(self, kind: str, seed: int | None = None) -> None:
        if kind not in _OPENCV_KINDS:
            raise ValueError(f'unknown OpenCV tracker {kind!r}')
        self.name = kind
        self.seed = seed
        self._create = opencv_constructor(kind)
        self._tracker: Any = None

    def init(self, image: np.ndarray, box: Box) -> None:
        reseed_opencv(self.seed)
        self._tracker = self._create()
        result = self._tracker.init(_bgr(image), opencv_box(box))
        if result is False:  # 3.x and legacy return a flag; 4.x returns None
            raise RuntimeError(f'OpenCV {self.name} refused the initial box {box}')

    def update(self, image: np.ndarray) -> Box | None:
        import cv2

        try:
            ok, box = self._tracker.update(_bgr(image))
        except cv2.error:  # e.g. a box that drifted off the frame: no box, as OTB expects
            return None
        if not ok:
            return None
        values = tuple(float(v) for v in box)
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            return None
        return values  # type: ignore[return-value]


def _bgr(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, :, ::-1])


# --- DeepTrack ----------------------------------------------------------------------------

def deeptrack_config(mode: str | None = None,
                     overrides: Mapping[str, Any] | None = None) -> Any:
    """Build the core's `TrackerConfig` from a preset and KEY=VALUE overrides.

    Everything goes through `TrackerConfig.from_mapping`, so an ablation is a command-line flag
    and a typo or an out-of-range value is reported with the field's name. No mode means the
    core's default preset, the one the node ships with.
    """
    try:
        from deeptrack_ros.core.config import TrackerConfig
    except ImportError as exc:
        raise EvalError(f'the DeepTrack core cannot be imported: {exc}') from None
    values = {**({'mode': mode} if mode is not None else {}), **(overrides or {})}
    try:
        return TrackerConfig.from_mapping(values)
    except (ValueError, TypeError) as exc:
        raise EvalError(f'tracker configuration: {exc}') from None


class DeepTrackTracker(Tracker):
    """The project's DeepTrack tracker (deeptrack_ros.core) behind the harness interface."""

    name = 'deeptrack'

    def __init__(self, config: Any = None, device: str = 'auto', seed: int | None = None) -> None:
        try:
            from deeptrack_ros.core import DeepTracker
        except ImportError as exc:
            raise EvalError(f'the DeepTrack core cannot be imported: {exc}') from None
        try:
            self._tracker = DeepTracker(config, device=device, seed=seed)
        except (ValueError, RuntimeError) as exc:
            raise EvalError(f'cannot start DeepTrack on device {device!r}: {exc}') from None
        self.device = str(self._tracker.device)
        self._info = FrameInfo()

    def init(self, image: np.ndarray, box: Box) -> None:
        self._keep(self._tracker.initialize(image, tuple(float(v) for v in box)))

    def update(self, image: np.ndarray) -> Box | None:
        return self._keep(self._tracker.track(image))

    def info(self) -> FrameInfo:
        return self._info

    def _keep(self, result: Any) -> Box | None:
        if getattr(result, 'particles', None) is not None:
            # the harness keeps every frame's info: drop the per-particle arrays (~60 kB a
            # frame) so long sequences and bags do not grow memory for data nobody reads
            result = dataclasses.replace(result, particles=None, particle_scores=None)
        self._info = FrameInfo(score=float(result.score), confidence=float(result.confidence),
                               quality=float(result.quality), updated=bool(result.updated),
                               lost=bool(result.lost), result=result)
        box = tuple(float(v) for v in result.box)
        return box if all(math.isfinite(v) for v in box) else None  # type: ignore[return-value]


# --- registry -----------------------------------------------------------------------------

PEERS = tuple(_OPENCV_KINDS)
TRACKER_NAMES = ('deeptrack', *PEERS, 'identity')


@dataclass(frozen=True)
class TrackerSpec:
    """How to build a fresh tracker per sequence: name plus DeepTrack's settings, and the
    label its results go under (the name unless one tracker runs with several seeds)."""

    name: str
    config: Any = None
    device: str = 'auto'
    seed: int | None = None
    label: str | None = None

    @property
    def title(self) -> str:
        """The name results, CSV folders and plot legends use for this tracker."""
        return self.label or self.name

    def build(self) -> Tracker:
        """A new tracker instance (each sequence starts from scratch)."""
        if self.name == 'deeptrack':
            return DeepTrackTracker(self.config, self.device, self.seed)
        if self.name in _OPENCV_KINDS:
            return OpenCVTracker(self.name, self.seed)
        if self.name == 'identity':
            return IdentityTracker()
        raise EvalError(f'unknown tracker {self.name!r} (choose from {", ".join(TRACKER_NAMES)})')


def parse_tracker_list(text: str) -> list[str]:
    """Split `deeptrack,csrt` into names, rejecting unknown and repeated ones."""
    names = [n.strip().lower() for n in text.split(',') if n.strip()]
    if not names:
        raise EvalError('--trackers: no tracker named')
    unknown = [n for n in names if n not in TRACKER_NAMES]
    if unknown:
        raise EvalError(f'--trackers: unknown {", ".join(unknown)} '
                        f'(choose from {", ".join(TRACKER_NAMES)})')
    if len(set(names)) != len(names):
        raise EvalError(f'--trackers: repeated name in {text!r}')
    return names
