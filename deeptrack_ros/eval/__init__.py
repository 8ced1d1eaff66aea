"""Offline evaluation of DeepTrack and its OpenCV peers (issue 4).

One small module per responsibility, so each can be tested and reused alone:

- `sequences`: OTB-format sequence folders (images + 1-based ground truth).
- `metrics`: centre error, IoU, precision and success curves (OTB one-pass protocol).
- `trackers`: the `init` / `update` adapter interface, the DeepTrack adapter (imports the core
  lazily) and OpenCV's CSRT / KCF / MIL.
- `runner`: the one-pass harness; it times only the tracker's own calls.
- `report`: summary.json, per-frame CSV and the OTB precision / success plots.
- `rosmsgs`, `images`, `bags`: rosbag2 message types, image decoding, bag replay and conversion.
- `progress`, `staging`, `errors`: console progress, all-or-nothing output folders, and the one
  error type the command line turns into exit code 2.
- `cli`: the `deeptrack-eval` command (also `python -m deeptrack_ros.eval`).

Nothing here imports torch or the tracker core at import time: the peers and the harness work
on machines where the core cannot be loaded.
"""
