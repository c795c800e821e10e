"""load_planetoid against PyG's own Planetoid reader on the bundled files."""

import shutil

import numpy as np
import pytest

from graphkit.datasets import load_planetoid
from graphkit.datasets._files import DATA_DIR

# (nodes, undirected edges without self-loops, features, classes) from SOURCE.md / PyG.
COUNTS = {
    "cora": (2708, 5278, 1433, 7),
    "citeseer": (3327, 4552, 3703, 6),
    "pubmed": (19717, 44324, 500, 3),
}


def _edge_set(edge_index):
    return set(map(tuple, np.asarray(edge_index).T.tolist()))


@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_matches_pyg_read_planetoid_data(name):
    from torch_geometric.io import read_planetoid_data

    ref = read_planetoid_data(str(DATA_DIR / name), name)
    d = load_planetoid(name)
    assert d.x.dtype == np.float32 and d.y.dtype == np.int64 and d.edge_index.dtype == np.int64
    np.testing.assert_array_equal(d.x, ref.x.numpy())
    np.testing.assert_array_equal(d.y, ref.y.numpy())
    for m in ("train_mask", "val_mask", "test_mask"):
        np.testing.assert_array_equal(getattr(d, m), getattr(ref, m).numpy())
    assert _edge_set(d.edge_index) == _edge_set(ref.edge_index.numpy())
    assert d.edge_index.shape[1] == ref.edge_index.shape[1]


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_and_invariants(name):
    n, e, f, c = COUNTS[name]
    if name == "pubmed":
        with pytest.warns(UserWarning, match="allx"):
            d = load_planetoid(name)
    else:
        d = load_planetoid(name)
    assert (d.num_nodes, d.x.shape, d.y.shape, d.num_classes) == (n, (n, f), (n,), c)
    ei = d.edge_index
    assert ei.shape == (2, 2 * e)
    assert (ei[0] != ei[1]).all()
    assert _edge_set(ei) == _edge_set(ei[::-1])  # both directions
    assert len(_edge_set(ei)) == ei.shape[1]  # no duplicates
    assert d.train_mask.sum() == 20 * c and d.val_mask.sum() == 500 and d.test_mask.sum() == 1000
    assert not (d.train_mask & d.val_mask).any() and not (d.val_mask & d.test_mask).any()
    assert np.bincount(d.y[d.train_mask], minlength=c).tolist() == [20] * c
    assert (d.x[~d.x_available] == 0).all()


def test_citeseer_isolated_test_nodes():
    d = load_planetoid("CiteSeer")
    missing = np.flatnonzero(~d.x_available)
    assert len(missing) == 15 and missing.min() >= 2312
    assert not d.test_mask[missing].any() and (d.y[missing] == 0).all()


def test_pubmed_partial_features():
    with pytest.warns(UserWarning, match="allx"):
        d = load_planetoid("pubmed")
    assert d.x_available.sum() == 60 + 1000
    assert d.x_available[d.train_mask].all() and d.x_available[d.test_mask].all()
    assert (d.x[d.test_mask].sum(axis=1) > 0).all()  # real TF-IDF rows were placed
    assert np.bincount(d.y).tolist() == [4103, 7739, 7875]


def test_pubmed_root_with_allx_gives_full_features(tmp_path):
    """With a complete folder (here: Cora's files renamed) no warning and no unknown rows."""
    for f in (DATA_DIR / "cora").glob("ind.cora.*"):
        shutil.copy(f, tmp_path / f.name.replace("cora", "pubmed"))
    d = load_planetoid("pubmed", root=tmp_path)
    assert d.x_available.all()
    np.testing.assert_array_equal(d.x, load_planetoid("cora").x)


def test_to_pyg():
    d = load_planetoid("cora")
    data = d.to_pyg()
    assert data.num_nodes == 2708 and data.x.shape == (2708, 1433)
    assert data.edge_index.dtype.is_floating_point is False
    assert data.is_undirected() and not data.has_self_loops()
    assert int(data.train_mask.sum()) == 140


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="cora, citeseer, pubmed"):
        load_planetoid("nell")
    with pytest.raises(FileNotFoundError, match="ind.cora.x"):
        load_planetoid("cora", root=tmp_path)
