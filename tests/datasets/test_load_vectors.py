"""load_vectors: splits, shapes, and the shipped ground truth re-checked by brute force."""

import shutil

import numpy as np
import pytest

import graphkit.datasets._files as files
from graphkit.datasets import load_vectors
from graphkit.datasets.make_groundtruth import exact_knn, main as make_groundtruth

BUNDLED = files.DATA_DIR


def _brute_force(base, query, k=100):
    """Independent reference: integer squared L2 of explicit differences, sort by (distance, id)."""
    base = base.astype(np.int64)
    out = []
    for q in query.astype(np.int64):
        d = ((base - q) ** 2).sum(axis=1)
        out.append(np.lexsort((np.arange(len(base)), d))[:k])
    return np.array(out)


def test_sift5k_split(sift5k):
    d = sift5k
    assert d["metric"] == "l2"
    assert d["base"].shape == (4500, 128) and d["query"].shape == (500, 128)
    assert d["query_ngt"].shape == (3, 128)
    assert d["groundtruth"].shape == (500, 100) and d["groundtruth_ngt"].shape == (3, 100)
    for key in ("base", "query", "query_ngt"):
        v = d[key]
        assert v.dtype == np.float32 and (v == np.round(v)).all() and v.min() >= 0 and v.max() <= 191
    assert d["groundtruth"].dtype == np.int64
    assert len(np.unique(np.vstack([d["base"], d["query"]]), axis=0)) == 5000  # SOURCE.md: no duplicates


def test_mnist10k_split(mnist10k):
    d = mnist10k
    assert d["metric"] == "l2"
    assert d["base"].shape == (9000, 784) and d["query"].shape == (1000, 784)
    assert d["base"].dtype == np.float32 and d["base"].max() == 255 and d["base"].min() == 0
    assert d["labels"].shape == (9000,) and d["query_labels"].shape == (1000,)
    assert d["labels"].dtype == np.int64
    counts = np.bincount(np.concatenate([d["labels"], d["query_labels"]]))
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert d["groundtruth"].shape == (1000, 100) and d["groundtruth"].dtype == np.int64


@pytest.mark.parametrize("fixture", ["sift5k", "mnist10k"])
def test_groundtruth_matches_brute_force_on_a_subset(fixture, request):
    d = request.getfixturevalue(fixture)
    rows = np.random.default_rng(0).choice(len(d["query"]), 30, replace=False)
    np.testing.assert_array_equal(d["groundtruth"][rows], _brute_force(d["base"], d["query"][rows]))
    if fixture == "sift5k":
        np.testing.assert_array_equal(d["groundtruth_ngt"], _brute_force(d["base"], d["query_ngt"]))


def test_exact_knn_breaks_ties_by_lower_id():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 3, size=(300, 4)).astype(np.float32)  # many exact ties
    query = rng.integers(0, 3, size=(40, 4)).astype(np.float32)
    np.testing.assert_array_equal(exact_knn(base, query, 50, block=7), _brute_force(base, query, 50))


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of the vector folders, with graphkit.datasets pointed at it."""
    for folder in ("sift5k_ngt", "mnist_test"):
        shutil.copytree(files.DATA_DIR / folder, tmp_path / folder)
    monkeypatch.setattr(files, "DATA_DIR", tmp_path)
    return tmp_path


def test_shipped_groundtruth_is_the_script_output(data_copy):
    for f in data_copy.glob("*/groundtruth*.npy"):
        f.unlink()
    make_groundtruth([])
    for folder, names in (("sift5k_ngt", ["groundtruth", "groundtruth_ngt"]), ("mnist_test", ["groundtruth"])):
        for n in names:
            np.testing.assert_array_equal(np.load(data_copy / folder / f"{n}.npy"),
                                          np.load(BUNDLED / folder / f"{n}.npy"))


def test_missing_or_bad_groundtruth(data_copy):
    (data_copy / "sift5k_ngt" / "groundtruth.npy").unlink()
    with pytest.raises(FileNotFoundError, match="make_groundtruth"):
        load_vectors("sift5k")
    np.save(data_copy / "mnist_test" / "groundtruth.npy", np.zeros((1000, 10), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\(1000, 10\)"):
        load_vectors("mnist10k")


def test_unknown_name():
    with pytest.raises(ValueError, match="sift5k, mnist10k"):
        load_vectors("sift1m")
