"""Recall, throughput and recall-vs-QPS curves for comparing indexes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np


def recall_at_k(I: np.ndarray, groundtruth: np.ndarray, k: int | None = None) -> float:
    """Mean fraction of the true k nearest neighbours found in each result row.

    Args:
        I: (nq, >=k) result ids (-1 padding never counts).
        groundtruth: (nq, >=k) exact neighbour ids, nearest first.
        k: defaults to I.shape[1].

    Returns:
        recall@k in [0, 1].
    """
    I = np.asarray(I)
    gt = np.asarray(groundtruth)
    k = I.shape[1] if k is None else k
    if I.shape[0] != gt.shape[0]:
        raise ValueError(f"{I.shape[0]} result rows but {gt.shape[0]} ground-truth rows")
    if gt.shape[1] < k or I.shape[1] < k:
        raise ValueError(f"need at least k={k} columns, got results {I.shape} and ground truth {gt.shape}")
    hits = 0
    for row, truth in zip(I[:, :k], gt[:, :k]):
        hits += np.intersect1d(row[row >= 0], truth).size
    return hits / (I.shape[0] * k) if I.shape[0] else 1.0


@dataclass
class Timing:
    """Wall-clock timing of a batch search: best of ``repeats`` runs."""

    seconds: float
    nq: int
    result: Any = field(repr=False, default=None)

    @property
    def qps(self) -> float:
        return self.nq / self.seconds if self.seconds > 0 else float("inf")


def time_search(search: Callable[[], Any], nq: int, repeats: int = 3, warmup: int = 1,
                clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time ``search()`` (a closure answering nq queries); best of ``repeats``.

    ``clock=time.process_time`` counts the CPU seconds of the whole process instead of
    wall time: on a loaded machine that is the steadier measure of single-threaded work.
    """
    return time_searches({0: search}, nq, repeats, warmup, clock)[0]


def time_searches(searches: dict[Any, Callable[[], Any]], nq: int, repeats: int = 3, warmup: int = 1,
                  clock: Callable[[], float] = time.perf_counter) -> dict[Any, Timing]:
    """Time several searches side by side (each a closure answering the same nq queries).

    Each of ``repeats`` rounds times every search once, the order reversed every other
    round, and each search keeps its best round. On a shared, noisy machine a slow spell
    then falls on every search of a round rather than on whichever ran through it, so
    their QPS ratios hold better than timing one search after another. With several
    searches, each timed run follows an untimed run of the same search, so that it finds
    its own data in the caches (not the previous search's), as when timed alone. Returns a
    Timing per key, its ``result`` from the best round.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    keys = list(searches)
    result: dict[Any, Any] = {}
    for key in keys:
        for _ in range(warmup):
            result[key] = searches[key]()
    best = dict.fromkeys(keys, float("inf"))
    for r in range(repeats):
        for key in keys if r % 2 == 0 else keys[::-1]:
            if len(keys) > 1:
                searches[key]()
            t0 = clock()
            out = searches[key]()
            dt = clock() - t0
            if dt < best[key]:
                best[key], result[key] = dt, out
    return {key: Timing(best[key], nq, result[key]) for key in keys}


def qps_at_recall(points: Sequence[tuple[float, float]], target: float) -> float | None:
    """QPS at recall ``target`` on a measured (recall, qps) curve, interpolated on log QPS
    between the points around it; when every point already reaches it, the fastest one;
    None when no point reaches it."""
    pts = sorted(points)
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= target <= r1 and r1 > r0:
            t = (target - r0) / (r1 - r0)
            return float(np.exp(np.log(q0) + t * (np.log(q1) - np.log(q0))))
    reached = [q for r, q in pts if r >= target]
    return max(reached) if reached else None


@dataclass
class CurvePoint:
    name: str
    param: Any
    recall: float
    qps: float


def plot_recall_qps(points: Sequence[CurvePoint], path: str, title: str = "") -> str:
    """Write a recall@k vs QPS plot (log QPS), one line per index name. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for name in dict.fromkeys(p.name for p in points):
        pts = sorted((p for p in points if p.name == name), key=lambda p: p.recall)
        ax.plot([p.recall for p in pts], [p.qps for p in pts], marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("recall@k")
    ax.set_ylabel("queries per second (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
