"""Random link splits: held-out positive edges and sampled non-edges."""

from __future__ import annotations

import numpy as np
import torch

from graphkit._checks import check_edge_index


def undirected_pairs(edge_index: torch.Tensor) -> torch.Tensor:
    """(2, M) unique pairs (u < v) of an undirected edge_index; self-loops dropped."""
    u, v = edge_index[0], edge_index[1]
    lo, hi = torch.minimum(u, v), torch.maximum(u, v)
    keep = lo != hi
    return torch.unique(torch.stack([lo[keep], hi[keep]]), dim=1)


def to_undirected(pairs: torch.Tensor) -> torch.Tensor:
    """(2, 2M): both directions of every pair."""
    return torch.cat([pairs, pairs.flip(0)], dim=1)


def sample_non_edges(num_nodes: int, count: int, forbidden: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """``count`` distinct pairs (u < v), uniform among non-edges of ``forbidden`` (2, M) (u<v keys)."""
    key_forbidden = np.unique((forbidden[0].numpy() * num_nodes + forbidden[1].numpy()))
    chosen = np.empty(0, np.int64)
    while chosen.size < count:
        u = rng.integers(0, num_nodes, 2 * (count - chosen.size) + 16)
        v = rng.integers(0, num_nodes, u.size)
        lo, hi = np.minimum(u, v), np.maximum(u, v)
        key = lo * num_nodes + hi
        key = key[(lo != hi) & ~np.isin(key, key_forbidden)]
        chosen = np.concatenate([chosen, key[~np.isin(key, chosen)]])
        _, first = np.unique(chosen, return_index=True)
        chosen = chosen[np.sort(first)]
    chosen = chosen[:count]
    return torch.from_numpy(np.stack([chosen // num_nodes, chosen % num_nodes]))


def random_link_split(edge_index: torch.Tensor, num_nodes: int, val_ratio: float = 0.05,
                      test_ratio: float = 0.10, seed: int = 0, val_neg_ratio: float = 1.0) -> dict:
    """Split the undirected edges at random into train / val / test (85/5/10 by default).

    Test gets as many sampled non-edges of the *whole* graph as positives, validation
    ``val_neg_ratio`` times as many (as PyG's ``train_test_split_edges``, the protocol of the
    SEAL paper). The NCN reference code's Planetoid split is ``val_ratio=0.1,
    test_ratio=0.2, val_neg_ratio=2``: it splits 60/20/20 with as many negatives as positives
    and moves half of the validation positives (not their negatives) into training.

    Args:
        edge_index: (2, E) undirected graph (both directions). num_nodes: N.
        val_ratio, test_ratio: fractions of the undirected edges. seed: of the split.
        val_neg_ratio: validation negatives per validation positive (> 0).

    Returns:
        dict of int64 (2, *) tensors with u < v: 'train_pos', 'val_pos', 'val_neg',
        'test_pos', 'test_neg'; and 'num_nodes'.

    Raises:
        ValueError: ratios outside [0, 1) or summing to >= 1; a malformed edge_index.
    """
    check_edge_index(edge_index, num_nodes)
    if not (0 <= val_ratio < 1 and 0 <= test_ratio < 1 and val_ratio + test_ratio < 1):
        raise ValueError(f"val_ratio and test_ratio must lie in [0, 1) and sum below 1, got {val_ratio}, {test_ratio}")
    if not val_neg_ratio > 0:
        raise ValueError(f"val_neg_ratio must be > 0, got {val_neg_ratio!r}")
    pairs = undirected_pairs(edge_index.cpu().long())
    m = pairs.shape[1]
    rng = np.random.default_rng(seed)
    perm = torch.from_numpy(rng.permutation(m))
    n_val, n_test = int(np.floor(val_ratio * m)), int(np.floor(test_ratio * m))
    val, test, train = perm[:n_val], perm[n_val:n_val + n_test], perm[n_val + n_test:]
    n_val_neg = int(round(val_neg_ratio * n_val))
    neg = sample_non_edges(num_nodes, n_val_neg + n_test, pairs, rng)
    return {
        "train_pos": pairs[:, train], "val_pos": pairs[:, val], "test_pos": pairs[:, test],
        "val_neg": neg[:, :n_val_neg], "test_neg": neg[:, n_val_neg:], "num_nodes": num_nodes,
    }
