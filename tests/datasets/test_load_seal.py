"""load_seal against a networkx graph of the raw lines, and the SOURCE.md counts."""

import gzip

import networkx as nx
import numpy as np
import pytest

from graphkit.datasets import load_seal
from graphkit.datasets._files import DATA_DIR
from graphkit.datasets.seal import SEAL_DATASETS

# nodes present, distinct undirected edges, smallest and largest file id
COUNTS = {
    "USAir": (332, 2126, 1, 332),
    "NS": (1461, 2742, 1, 1589),
    "PB": (1222, 16714, 1, 1222),
    "Yeast": (2375, 11693, 0, 2374),
    "Celegans": (297, 2148, 0, 296),
    "Power": (4941, 6594, 0, 4940),
}


@pytest.mark.parametrize("name", SEAL_DATASETS)
def test_matches_networkx(name):
    n, m, lo, hi = COUNTS[name]
    d = load_seal(name.upper())
    ei, ids = d["edge_index"], d["node_ids"]
    assert ei.dtype == np.int64 and ei.shape == (2, 2 * m) and d["num_nodes"] == n == len(ids)
    assert (ids[0], ids[-1]) == (lo, hi)

    graph = nx.Graph()
    with gzip.open(DATA_DIR / "seal_linkpred" / f"{name}.txt.gz", "rt") as f:
        graph.add_edges_from((int(p[0]), int(p[1])) for p in map(str.split, f))
    assert graph.number_of_nodes() == n and graph.number_of_edges() == m
    ours = {(int(ids[u]), int(ids[v])) for u, v in ei.T}
    ref = {(u, v) for u, v in graph.edges()} | {(v, u) for u, v in graph.edges()}
    assert ours == ref
    assert (ei[0] != ei[1]).all()


def test_unknown_name():
    with pytest.raises(ValueError, match="USAir, NS, PB, Yeast, Celegans, Power"):
        load_seal("Router")
