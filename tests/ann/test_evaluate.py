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


def test_time_searches_side_by_side_keeps_each_best_round():
    """Each round times every search once, the order reversed every other round, each timed
    run after an untimed one of the same search (its data in cache); each search keeps its
    best round and that round's result. A slow spell (here the clock running 10x during the
    first round) then falls on every search, so their ratio holds."""
    import pytest

    from ann.evaluate import time_search, time_searches

    now = [0.0]
    calls = []
    slow = [10.0]

    def search(name, cost):
        def run():
            calls.append(name)
            now[0] += cost * slow[0]
            return (name, len(calls))
        return run

    def clock():
        return now[0]

    searches = {"a": search("a", 1.0), "b": search("b", 2.0)}
    warm = len(searches)  # one warm-up run each, untimed
    orig = searches["b"]

    def b_then_calm():  # the slow spell ends after b's first timed run
        out = orig()
        if len(calls) == warm + 4:
            slow[0] = 1.0
        return out

    searches["b"] = b_then_calm
    t = time_searches(searches, nq=100, repeats=3, clock=clock)
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] + ["b", "b", "a", "a"] + ["a", "a", "b", "b"]  # warm-up, a b | b a | a b
    assert t["a"].seconds == 1.0 and t["b"].seconds == 2.0
    assert t["b"].qps == 50.0 and t["a"].qps / t["b"].qps == 2.0
    assert t["a"].result == ("a", 10)  # the result of its first best round (calls 10 and 12 tie)
    assert time_search(lambda: None, 10, repeats=1, clock=clock).seconds == 0.0
    with pytest.raises(ValueError, match="repeats"):
        time_searches(searches, 10, repeats=0)
