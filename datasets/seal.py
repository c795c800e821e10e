"""SEAL / WLNM link-prediction benchmark networks (USAir, NS, PB, Yeast, Celegans, Power)."""

from __future__ import annotations

import numpy as np

from ._files import check_name, data_path, open_text
from ._graph import undirected_edge_index

SEAL_DATASETS = ("USAir", "NS", "PB", "Yeast", "Celegans", "Power")


def load_seal(name: str) -> dict:
    """Load one SEAL link-prediction network as an undirected, unweighted simple graph.

    As SEAL does, weights (USAir, NS) and edge directions (PB, Celegans) are dropped and
    duplicate lines merged. Node ids are made 0-based and contiguous over the ids that occur:
    ``node_ids[k]`` is the file's id of node k (1-based files shift by one; NS also closes the
    gaps in its ids 1..1589).

    Args:
        name: ``'USAir'``, ``'NS'``, ``'PB'``, ``'Yeast'``, ``'Celegans'`` or ``'Power'``
            (case-insensitive).

    Returns:
        dict with ``edge_index`` int64 (2, 2M) (both directions, no self-loops, sorted),
        ``num_nodes`` N and ``node_ids`` int64 (N,). (N, M): USAir 332, 2,126; NS 1,461, 2,742;
        PB 1,222, 16,714; Yeast 2,375, 11,693; Celegans 297, 2,148; Power 4,941, 6,594.

    Raises:
        ValueError: unknown name (the message lists the known ones).

    Data: M. Zhang, Y. Chen, *Link Prediction Based on Graph Neural Networks*, NeurIPS 2018 and
    *Weisfeiler-Lehman Neural Machine for Link Prediction*, KDD 2017 (muhanzhang/SEAL).
    """
    name = check_name(name, SEAL_DATASETS, "SEAL")
    with open_text(data_path("seal_linkpred", f"{name}.txt.gz")) as f:
        pairs = np.loadtxt(f, usecols=(0, 1), dtype=np.int64, ndmin=2)
    node_ids, inverse = np.unique(pairs, return_inverse=True)
    inverse = inverse.reshape(pairs.shape)
    return {
        "edge_index": undirected_edge_index(inverse[:, 0], inverse[:, 1], len(node_ids)),
        "num_nodes": len(node_ids),
        "node_ids": node_ids,
    }
