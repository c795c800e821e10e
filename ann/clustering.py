"""Balanced k-means and hierarchical balanced k-means (the partitioning of SPANN).

``balanced_kmeans`` is Lloyd's k-means whose assignment step gives every cluster a
capacity of ``ceil((1 + slack) n / k)`` points (points with the strongest preference
choose first), so clusters come out of similar size. ``hierarchical_balanced_kmeans`` splits
the data recursively with it (at most ``branching`` parts per split) until every part
holds at most ``ceil(n / nlist)`` vectors: many small, even partitions.

Paper: Q. Chen et al., "SPANN: Highly-efficient Billion-scale Approximate Nearest Neighbor
Search", NeurIPS 2021 (hierarchical balanced clustering, section 3.2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ann import _clustering_kernels as _k


def _check_data(X: Any) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype.kind not in "iuf":
        raise TypeError(f"X must have a real numeric dtype, got {X.dtype}")
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array (n, dim), got shape {X.shape}")
    return np.ascontiguousarray(X, dtype=np.float32)


def _check_int(name: str, v: Any, low: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
    if v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    return int(v)


def _check_parts(X: Any, name: str, k: Any) -> tuple[np.ndarray, int]:
    """Validated data and number of parts (1 <= k <= n)."""
    X = _check_data(X)
    k = _check_int(name, k, 1)
    if k > X.shape[0]:
        raise ValueError(f"{name}={k} exceeds the number of vectors {X.shape[0]}")
    return X, k


def _metric_ip(metric: str) -> bool:
    if metric not in ("l2", "ip"):
        raise ValueError(f"clustering metric must be 'l2' or 'ip', got {metric!r}")
    return metric == "ip"


def _distances(X: np.ndarray, C: np.ndarray, ip: bool) -> np.ndarray:
    """(n, k) point-centroid distances: the parallel kernel, or BLAS for small inputs
    (where starting threads costs more than the work)."""
    if X.shape[0] * C.shape[0] >= 1 << 16:
        return _k.point_centroid_distances(X, C, ip)
    G = X @ C.T
    if ip:
        return (1.0 - G).astype(np.float32)
    D = (X * X).sum(1)[:, None] - 2.0 * G + (C * C).sum(1)[None, :]
    return np.maximum(D, 0).astype(np.float32)


def balanced_kmeans(X: Any, k: int, *, iters: int = 10, slack: float = 0.1, seed: int = 0,
                    metric: str = "l2") -> tuple[np.ndarray, np.ndarray]:
    """k-means with a cluster-size limit.

    Args:
        X: (n, d) data. k: clusters (1 <= k <= n).
        iters: Lloyd iterations. slack: every cluster holds at most
            ``ceil((1 + slack) n / k)`` points (0: as even as possible; large: plain k-means).
        seed: seed of the initial centroids (k distinct rows of X). metric: 'l2' or 'ip'.

    Returns:
        centroids (k, d) float32 (the means of their clusters), labels (n,) int64.

    Raises:
        ValueError / TypeError: bad data or parameters.
    """
    X, k = _check_parts(X, "k", k)
    n = X.shape[0]
    iters = _check_int("iters", iters, 1)
    if not np.isfinite(slack) or slack < 0:
        raise ValueError(f"slack must be a finite number >= 0, got {slack}")
    ip = _metric_ip(metric)
    cap = max(1, int(np.ceil((1.0 + slack) * n / k)))
    rng = np.random.default_rng(seed)
    C = X[rng.choice(n, size=k, replace=False)].copy()
    labels = np.zeros(n, np.int64)
    for it in range(iters + 1):
        D = _distances(X, C, ip)
        labels = _k.capacity_assign(D, cap)
        sums, counts = _k.centroid_sums(X, labels, k)
        nonempty = counts > 0
        C[nonempty] = (sums[nonempty] / counts[nonempty, None]).astype(np.float32)
        empty = np.flatnonzero(~nonempty)
        if empty.size and it < iters:  # reseed empty clusters on the worst-served points
            far = np.argsort(-D[np.arange(n), labels], kind="stable")[: empty.size]
            C[empty] = X[far]
    return C, labels


def hierarchical_balanced_kmeans(X: Any, nlist: int, *, branching: int = 16, iters: int = 10,
                                 slack: float = 0.1, seed: int = 0,
                                 metric: str = "l2") -> tuple[np.ndarray, np.ndarray]:
    """Split X recursively with balanced k-means into parts of at most ``ceil(n / nlist)``.

    A part needing ``L = ceil(s / target)`` leaves is cut into ``b = ceil(L / per)``
    clusters of at most ``per * target`` vectors each (``per = ceil(L / branching)``; the
    cap is relaxed by ``slack`` above the last level), so the last split of a part yields
    leaves of at most the target size. The number of leaves is close to
    (usually a little above) ``nlist``.

    Args:
        X: (n, d) data. nlist: wanted number of partitions (1 <= nlist <= n).
        branching: most clusters per split (>= 2). iters, slack, seed, metric: as
            :func:`balanced_kmeans`.

    Returns:
        centroids (m, d) float32 (leaf means), labels (n,) int64 in [0, m).
    """
    X, nlist = _check_parts(X, "nlist", nlist)
    n = X.shape[0]
    branching = _check_int("branching", branching, 2)
    target = -(-n // nlist)
    labels = np.empty(n, np.int64)
    cents: list[np.ndarray] = []
    stack = [np.arange(n)]
    step = 0
    while stack:
        part = stack.pop()
        if part.size <= target:
            labels[part] = len(cents)
            cents.append(X[part].mean(axis=0, dtype=np.float64).astype(np.float32))
            continue
        need = -(-part.size // target)  # leaves this part needs
        per = -(-need // branching)  # leaves per child
        b = -(-need // per)
        sl = b * per * target / part.size - 1.0 + slack * (per > 1)  # child cap: ~per leaves
        _, lab = balanced_kmeans(X[part], b, iters=iters, slack=sl, seed=seed + step, metric=metric)
        step += 1
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.arange(b + 1))
        subs = [part[order[bounds[j]:bounds[j + 1]]] for j in range(b)]
        if max(s.size for s in subs) == part.size:  # degenerate (duplicates): halve it
            subs = [part[: part.size // 2], part[part.size // 2:]]
        stack.extend(s for s in reversed(subs) if s.size)
    return np.stack(cents), labels


def size_distribution(sizes: Any) -> dict[str, float]:
    """Summary of partition (posting-list) sizes: count, min, percentiles, max, mean, std."""
    s = np.asarray(sizes, dtype=np.float64)
    if s.size == 0:
        return {"lists": 0}
    p = np.percentile(s, [1, 10, 50, 90, 99])
    return {"lists": int(s.size), "min": float(s.min()), "p1": float(p[0]), "p10": float(p[1]),
            "median": float(p[2]), "p90": float(p[3]), "p99": float(p[4]), "max": float(s.max()),
            "mean": float(s.mean()), "std": float(s.std())}
