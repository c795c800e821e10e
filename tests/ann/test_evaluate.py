"""ann.evaluate: QPS at a recall target on a measured curve."""

import math

from ann.evaluate import qps_at_recall


def test_qps_at_recall_interpolates_on_log_qps():
    pts = [(0.99, 100.0), (0.80, 10_000.0), (0.90, 1_000.0)]  # any order
    assert math.isclose(qps_at_recall(pts, 0.90), 1_000.0)
    assert math.isclose(qps_at_recall(pts, 0.85), math.sqrt(10_000.0 * 1_000.0))  # halfway on log QPS
    assert math.isclose(qps_at_recall(pts, 0.99), 100.0)


def test_qps_at_recall_ends():
    assert qps_at_recall([(0.5, 10.0), (0.8, 5.0)], 0.9) is None  # never reached
    assert qps_at_recall([], 0.9) is None
    # every point reaches the target: the fastest one counts
    assert qps_at_recall([(0.97, 300.0), (0.95, 500.0), (0.99, 100.0)], 0.9) == 500.0
