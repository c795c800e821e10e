"""load_acm: SOURCE.md shapes, counts and split."""

import numpy as np

from graphkit.datasets import load_acm

NNZ = {"PAP": 29281, "PLP": 2210761, "PMP": 2221699, "PTP": 9150593}


def test_acm():
    d = load_acm()
    assert d["num_nodes"] == 3025 and d["num_classes"] == 3
    assert d["x"].shape == (3025, 1870) and d["x"].dtype == np.float32
    assert np.count_nonzero(d["x"]) == 253300 and set(np.unique(d["x"])) == {0.0, 1.0}
    assert d["y"].dtype == np.int64 and np.bincount(d["y"]).tolist() == [1061, 965, 999]
    assert set(d["metapaths"]) == set(NNZ)
    for name, adj in d["metapaths"].items():
        assert adj.shape == (3025, 3025) and adj.nnz == NNZ[name], name
        assert (adj != adj.T).nnz == 0 and (adj.diagonal() == 1).all()
    split = [d["train_idx"], d["val_idx"], d["test_idx"]]
    assert [len(s) for s in split] == [600, 300, 2125] and all(s.dtype == np.int64 for s in split)
    assert np.array_equal(np.sort(np.concatenate(split)), np.arange(3025))
