"""CPU kernel of the feature store (Numba): parallel row gather; the zero-copy row layout.

Plain functions over arrays; :class:`native.features.FeatureStore` validates the ids
before calling them.
"""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, nogil=True, parallel=True)
def gather_rows(src, ids, out):
    """out[i, :] = src[ids[i], :] for every i, rows in parallel. src (N, F), ids (B,), out (B, F)."""
    for i in prange(ids.shape[0]):
        out[i, :] = src[ids[i], :]


ALIGN_BYTES = 128  # host rows of the zero-copy store start on this boundary


def row_words(num_features, itemsize):
    """8-byte words per host row of the zero-copy store, the row padded to ALIGN_BYTES."""
    row = num_features * itemsize
    return max(1, -(-row // ALIGN_BYTES)) * ALIGN_BYTES // 8
