"""Issue 7, long runs: a short soak (`deeptrack_ros.ros.soak`) of a real node process.

The full soak is `python -m deeptrack_ros.ros.soak --frames 20000` (about nine minutes); here
600 frames at 100 Hz through a node with a light tracker and small pools, so that in a few
seconds the pools fill up, the track is re-initialised twice, malformed frames are rejected
and most frames are dropped, and every one of those paths is counted.
"""

import pytest

pytest.importorskip('rclpy')
pytest.importorskip('deeptrack_ros.msg')
pytest.importorskip('vision_msgs.msg')

from deeptrack_ros.ros import soak  # noqa: E402

from node_test_support import LIGHT_TRACKER, unique_namespace  # noqa: E402

SMALL_POOLS = {'positive_pool_size': 20, 'negative_pool_size': 60}


def test_short_soak_keeps_memory_pools_and_counts_in_bounds():
    parameters = {name: str(value) for name, value in
                  {**LIGHT_TRACKER, 'first_frame_iterations': 4, 'num_particles': 100,
                   **SMALL_POOLS}.items()}
    options = soak.SoakOptions(frames=600, rate=100.0, warmup=300, reinit_every=250,
                               bad_every=100, parameters=parameters, progress=False,
                               drain_timeout=60.0, namespace=unique_namespace())
    report = soak.run(options)
    summary = soak.format_report(report, options)
    assert report.ok, summary
    assert report.published == report.received == 600, summary
    assert report.rejected == 5 and report.inits == 3, summary
    assert report.counts_add_up and report.dropped > 0 and report.processed > 10, summary
    assert report.statuses == report.processed, summary
    assert report.detections == report.tracking > 0, summary
    # The pools filled up to their capacity (2 x 20 positives with flips, 60 negatives) and
    # never beyond.
    assert report.pools_peak == {'positive': (40, 40), 'negative': (60, 60)}, summary
    assert report.pools_bounded, summary
    assert report.growth_mb is not None and report.growth_mb < 50.0, summary
    assert report.node_exit == 0, summary
