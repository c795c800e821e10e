"""CPU kernels of the feature store (Numba): parallel row gather and scatter.

Plain functions over arrays; :class:`native.features.FeatureStore` validates the ids
before calling them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, parallel=True)
def gather_rows(src, ids, out):
    """out[i, :] = src[ids[i], :] for every i, rows in parallel. src (N, F), ids (B,), out (B, F)."""
    f = src.shape[1]
    for i in prange(ids.shape[0]):
        r = ids[i]
        for c in range(f):
            out[i, c] = src[r, c]


@njit(cache=True, nogil=True, parallel=True)
def scatter_rows(src, rows, dst, slots):
    """dst[slots[i], :] = src[rows[i], :] for every i (slots distinct), rows in parallel."""
    f = src.shape[1]
    for i in prange(rows.shape[0]):
        for c in range(f):
            dst[slots[i], c] = src[rows[i], c]


ALIGN_BYTES = 128  # host rows of the zero-copy store start on this boundary


def row_words(num_features, itemsize):
    """8-byte words per host row of the zero-copy store, the row padded to ALIGN_BYTES."""
    row = num_features * itemsize
    return max(1, -(-row // ALIGN_BYTES)) * ALIGN_BYTES // 8
