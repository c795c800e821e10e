"""Edge-list helpers shared by the loaders (numpy only)."""

from __future__ import annotations

import numpy as np


def undirected_edge_index(row: np.ndarray, col: np.ndarray, num_nodes: int) -> np.ndarray:
    """Symmetrise an edge list: both directions, self-loops and duplicates dropped.

    Returns:
        int64 (2, E) sorted by (row, col).
    """
    row, col = np.asarray(row, dtype=np.int64), np.asarray(col, dtype=np.int64)
    keep = row != col
    row, col = row[keep], col[keep]
    key = np.unique(np.concatenate([row * num_nodes + col, col * num_nodes + row]))
    return np.stack([key // num_nodes, key % num_nodes])
