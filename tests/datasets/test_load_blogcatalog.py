"""load_blogcatalog: SOURCE.md counts and the edge list against the stored matrix."""

import numpy as np
import scipy.io

from graphkit.datasets import load_blogcatalog
from graphkit.datasets._files import DATA_DIR


def test_counts():
    d = load_blogcatalog()
    ei, labels = d["edge_index"], d["labels"]
    assert d["num_nodes"] == 10312
    assert ei.dtype == np.int64 and ei.shape == (2, 2 * 333983) and (ei[0] != ei[1]).all()
    assert labels.shape == (10312, 39) and labels.dtype == bool
    per_node = labels.sum(axis=1)
    assert per_node.min() == 1 and per_node.max() == 11 and round(per_node.mean(), 2) == 1.40
    per_label = labels.sum(axis=0)
    assert per_label.min() == 8 and per_label.max() == 1623


def test_edges_equal_stored_adjacency():
    d = load_blogcatalog()
    net = scipy.io.loadmat(DATA_DIR / "blogcatalog" / "BlogCatalog.mat")["net"].tocsr()
    rebuilt = np.zeros(net.shape, dtype=bool)
    rebuilt[d["edge_index"][0], d["edge_index"][1]] = True
    assert (rebuilt == (net.toarray() != 0)).all()
    assert rebuilt.sum() == net.nnz
