"""BlogCatalog social network with 39 multi-label group memberships."""

from __future__ import annotations

import numpy as np
import scipy.io

from ._files import data_path, require
from ._graph import undirected_edge_index


def load_blogcatalog() -> dict:
    """Load BlogCatalog: an undirected social graph and its multi-label node classes.

    Returns:
        dict with ``edge_index`` int64 (2, 667,966) (333,983 undirected edges, both
        directions, no self-loops, sorted), ``labels`` bool (10,312, 39) (every node has 1-11
        groups) and ``num_nodes`` 10,312.

    Data: L. Tang, H. Liu, *Relational Learning via Latent Social Dimensions*, KDD 2009 (the
    copy in muhanzhang/SEAL, M. Zhang and Y. Chen, NeurIPS 2018).
    """
    mat = scipy.io.loadmat(require(data_path("blogcatalog", "BlogCatalog.mat")))
    adj = mat["net"].tocoo()
    num_nodes = adj.shape[0]
    return {
        "edge_index": undirected_edge_index(adj.row, adj.col, num_nodes),
        "labels": np.asarray(mat["group"]) != 0,
        "num_nodes": num_nodes,
    }
