"""load_tu against PyG's read_tu_data on the same (decompressed) files, plus SOURCE.md counts."""

import gzip
import shutil

import numpy as np
import pytest
import torch

from graphkit.datasets import load_tu
from graphkit.datasets._files import DATA_DIR
from graphkit.datasets.tu import _FOLDER, TU_DATASETS

# graphs, nodes, directed adjacency entries after coalescing, class sizes, x width, edge_attr width
COUNTS = {
    "MUTAG": (188, 3371, 7442, [63, 125], 7, 4),
    "PROTEINS": (1113, 43471, 162088, [663, 450], 4, None),
    "ENZYMES": (600, 19580, 74564, [100] * 6, 21, None),
    "NCI1": (4110, 122747, 265506, [2053, 2057], 37, None),
    "IMDB-BINARY": (1000, 19773, 2 * 96531, [500, 500], None, None),
}


def _cat(graphs, key):
    return torch.cat([getattr(g, key) for g in graphs], dim=1 if key == "edge_index" else 0)


@pytest.mark.parametrize("name", TU_DATASETS)
def test_matches_pyg_read_tu_data(name, tmp_path):
    from torch_geometric.io import read_tu_data

    for f in (DATA_DIR / _FOLDER[name]).glob(f"{name}_*.txt.gz"):
        with gzip.open(f, "rb") as src, open(tmp_path / f.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    ref, slices, _ = read_tu_data(str(tmp_path), name)
    graphs = load_tu(name)

    assert torch.equal(_cat(graphs, "edge_index"), ref.edge_index)
    assert torch.equal(_cat(graphs, "y"), ref.y)
    for key in ("x", "edge_attr"):
        if getattr(ref, key) is None:
            assert all(getattr(g, key) is None for g in graphs)
        else:
            assert torch.equal(_cat(graphs, key), getattr(ref, key))
    node_ptr = torch.tensor([0] + [g.num_nodes for g in graphs]).cumsum(0)
    edge_ptr = torch.tensor([0] + [g.edge_index.shape[1] for g in graphs]).cumsum(0)
    assert torch.equal(edge_ptr, slices["edge_index"])
    if "x" in slices:
        assert torch.equal(node_ptr, slices["x"])
    else:
        assert node_ptr[-1] == ref.num_nodes


@pytest.mark.parametrize("name", TU_DATASETS)
def test_counts(name):
    n_graphs, n_nodes, n_edges, class_sizes, x_dim, e_dim = COUNTS[name]
    graphs = load_tu(name.lower())
    assert len(graphs) == n_graphs
    assert sum(g.num_nodes for g in graphs) == n_nodes
    assert sum(g.edge_index.shape[1] for g in graphs) == n_edges
    y = torch.cat([g.y for g in graphs])
    assert y.dtype == torch.int64 and np.bincount(y.numpy()).tolist() == class_sizes
    g = graphs[0]
    assert g.edge_index.dtype == torch.int64
    assert all(int(g.edge_index.max()) < g.num_nodes for g in graphs if g.edge_index.numel())
    if x_dim is None:
        assert g.x is None
    else:
        assert g.x.dtype == torch.float32 and g.x.shape[1] == x_dim
    if e_dim is None:
        assert g.edge_attr is None
    else:
        assert g.edge_attr.shape == (g.edge_index.shape[1], e_dim)


def test_mutag_features_are_one_hot():
    graphs = load_tu("MUTAG")
    x = torch.cat([g.x for g in graphs])
    e = torch.cat([g.edge_attr for g in graphs])
    assert torch.equal(x.sum(1), torch.ones(len(x))) and torch.equal(e.sum(1), torch.ones(len(e)))


def test_enzymes_attributes_come_first():
    graphs = load_tu("ENZYMES")
    x = torch.cat([g.x for g in graphs])
    assert x[0, 0] == 11.0 and torch.equal(x[:, 18:].sum(1), torch.ones(len(x)))


def test_unknown_name():
    with pytest.raises(ValueError, match="MUTAG, PROTEINS, ENZYMES, NCI1, IMDB-BINARY"):
        load_tu("DD")
