"""Training-free node embeddings (issue 9): FastRP, and the multi-label node classification
protocol used to evaluate them (DeepWalk / FastRP papers: one-vs-rest logistic regression,
each test node given its true number of labels).

Example::

    from graphkit.embed import FastRP
    emb = FastRP(dim=512, weights=(0, 0, 1, 6), beta=-0.9)(edge_index, num_nodes)  # (N, 512)
"""

from __future__ import annotations

from graphkit._lazy import lazy_exports

_LAZY = {
    "FastRP": "fastrp",
    "very_sparse_projection": "fastrp",
    "multilabel_f1": "evaluate",
    "top_k_labels": "evaluate",
    "node_classification_f1": "evaluate",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
