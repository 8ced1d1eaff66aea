"""The DeepTrack tracker core: numpy and torch only, no ROS.

Images are HxWx3 uint8 RGB (or HxW gray) numpy arrays; boxes are 0-based (x, y, w, h) floats.
"""

from deeptrack_ros.core.config import TrackerConfig, preset
from deeptrack_ros.core.result import Box, StageTimings, TrackResult
from deeptrack_ros.core.tracker import DeepTracker, resolve_device

__all__ = ['Box', 'DeepTracker', 'StageTimings', 'TrackResult', 'TrackerConfig', 'preset',
           'resolve_device']
