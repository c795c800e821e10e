"""Compute the exact 100-NN ground truth of the bundled vector sets once (derived data).

Run ``python -m graphkit.datasets.make_groundtruth`` to (re)write ``groundtruth*.npy`` in
``datasets/data/sift5k_ngt/`` and ``datasets/data/mnist_test/``; ``load_vectors`` reads them.
Brute force in float64 over the splits ``load_vectors`` defines: squared L2, nearest first, ties
broken by the lower base id. The vectors are integer-valued, so every distance is exact.
"""

from __future__ import annotations

import argparse

import numpy as np

from ._files import data_path
from .vectors import _FOLDER, _GROUNDTRUTH, GROUNDTRUTH_K, VECTOR_SETS, _vectors_without_groundtruth


def exact_knn(base: np.ndarray, query: np.ndarray, k: int, block: int = 256) -> np.ndarray:
    """Exact k nearest base rows of each query under squared L2, ties broken by lower id.

    Args:
        base: (n, d) vectors.
        query: (nq, d) vectors.
        k: neighbours per query (k <= n).
        block: queries per distance block (bounds memory to block * n float64).

    Returns:
        int64 (nq, k) row ids into ``base``, nearest first.
    """
    base = np.asarray(base, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    base_sq = np.einsum("ij,ij->i", base, base)
    out = np.empty((len(query), k), dtype=np.int64)
    for start in range(0, len(query), block):
        q = query[start:start + block]
        dist = base_sq[None, :] - 2.0 * (q @ base.T) + np.einsum("ij,ij->i", q, q)[:, None]
        out[start:start + block] = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="name", help=f"default: {' '.join(VECTOR_SETS)}")
    args = parser.parse_args(argv)
    for name in args.names or VECTOR_SETS:
        sets = _vectors_without_groundtruth(name)
        for filename, query_key in _GROUNDTRUTH[name].items():
            gt = exact_knn(sets["base"], sets[query_key], GROUNDTRUTH_K)
            path = data_path(_FOLDER[name], filename)
            np.save(path, gt)
            print(f"{name}: {query_key} {sets[query_key].shape} -> {path} {gt.shape}")


if __name__ == "__main__":
    main()
