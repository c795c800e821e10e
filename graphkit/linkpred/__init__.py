"""Link prediction: NCN / NCNC, neighbourhood heuristics, topological concentration, and
ANN candidate retrieval + NCNC re-ranking for whole-graph link prediction.

Torch in, torch out, PyG conventions (``x`` (N, F), ``edge_index`` (2, E) with both
directions of every undirected edge, ``pairs`` (2, B)). Common-neighbour sets come from the
``native`` kernels (Numba on the CPU, torch on CUDA).

Example::

    from graphkit.linkpred import NCNC, random_link_split, fit
    split = random_link_split(edge_index, num_nodes, seed=0)
    model = NCNC(x.shape[1], hidden_channels=256)
    result = fit(model, x, split, epochs=100)        # result["test"]["hits@100"]
"""

from __future__ import annotations

from graphkit._lazy import lazy_exports

_LAZY = {
    "NCN": "ncn", "NCNC": "ncn", "GAE": "ncn", "link_loss": "ncn",
    "GCN": "encoders", "MPNNEncoder": "encoders", "gcn_adjacency": "encoders",
    "link_graph": "neighbors", "common_neighbor_sets": "neighbors", "PairSets": "neighbors",
    "weighted_common_neighbors": "neighbors",
    "common_neighbors": "heuristics", "adamic_adar": "heuristics", "resource_allocation": "heuristics",
    "heuristic": "heuristics", "two_hop_candidates": "heuristics",
    "hits_at_k": "metrics", "mrr": "metrics", "auc": "metrics", "evaluate": "metrics",
    "random_link_split": "splits", "undirected_pairs": "splits", "to_undirected": "splits",
    "fit": "train", "evaluate_split": "train", "score_pairs": "train",
    "topological_concentration": "topology", "approximate_topological_concentration": "topology",
    "tc_edge_weights": "topology", "per_node_hits": "topology", "spearman": "topology",
    "random_projection_embedding": "topology",
    "CandidateReranker": "retrieval", "recall_at_k": "retrieval", "exhaustive_top_k": "retrieval",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
