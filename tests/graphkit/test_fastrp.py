"""FastRP against a dense numpy evaluation of the paper's formula, on Cora and BlogCatalog;
the multi-label protocol (top-k, F1, logistic regression) against scikit-learn."""

import numpy as np
import pytest
import torch

from graphkit.datasets import load_blogcatalog, load_planetoid
from graphkit.embed import FastRP, multilabel_f1, node_classification_f1, top_k_labels, very_sparse_projection
from native import device as dev
from native.csr import CSRGraph


def dense_fastrp(edge_index, n, dim, weights, beta, s, seed, normalize=True, edge_weight=None):
    """N = sum_i alpha_i rownorm(A^i L R), A = D^-1 S, L = diag((d / 2m)^beta), dense float64."""
    S = np.zeros((n, n))
    w = np.ones(edge_index.shape[1]) if edge_weight is None else np.asarray(edge_weight, np.float64)
    np.add.at(S, (edge_index[0], edge_index[1]), w)
    d = S.sum(1)
    A = np.divide(S, d[:, None], out=np.zeros_like(S), where=d[:, None] > 0)
    L = np.zeros(n)
    L[d > 0] = (d[d > 0] / d.sum()) ** beta
    R = very_sparse_projection(n, dim, s, seed).astype(np.float64)
    cur, out = L[:, None] * R, np.zeros((n, dim))
    for a in weights:
        cur = A @ cur
        if normalize:
            nrm = np.linalg.norm(cur, axis=1, keepdims=True)
            out += a * np.divide(cur, nrm, out=np.zeros_like(cur), where=nrm > 0)
        else:
            out += a * cur
    return out


@pytest.fixture(scope="module")
def cora():
    d = load_planetoid("cora")
    return d.edge_index, d.num_nodes


@pytest.fixture(params=["cpu", "torch"])
def device_kind(request, monkeypatch):
    """'torch': CPU tensors that native.device takes for CUDA ones, so the CUDA code path
    (torch sparse CSR products) runs here; the real GPU is the gpu-marked test."""
    if request.param == "torch":
        monkeypatch.setattr(dev, "device_of", lambda *a: dev.CUDA if any(torch.is_tensor(x) for x in a) else dev.CPU)
        monkeypatch.setattr(dev, "cuda_available", lambda: True)
    return request.param


@pytest.mark.parametrize("weights,beta,normalize", [((1.0, 1.0, 7.81, 45.28), -0.628, True),
                                                     ((0.0, 0.5, 2.0), 0.0, False)])
def test_matches_dense_reference_on_cora(cora, device_kind, weights, beta, normalize):
    ei, n = cora
    ref = dense_fastrp(ei, n, 64, weights, beta, np.sqrt(n), 3, normalize)
    got = FastRP(dim=64, weights=weights, beta=beta, normalize=normalize, seed=3)(torch.from_numpy(ei), n)
    assert got.shape == (n, 64) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), ref, rtol=2e-4, atol=2e-4 * np.abs(ref).max())


def test_weighted_directed_graph_and_isolated_nodes(device_kind):
    rng = np.random.default_rng(0)
    n = 60
    ei = rng.integers(0, 50, (2, 400))  # nodes 50..59 isolated, directed, duplicates
    w = rng.random(400).astype(np.float32) + 0.1
    ref = dense_fastrp(ei, n, 16, (1.0, 2.0), -0.5, 3.0, 1, True, w)
    got = FastRP(dim=16, weights=(1.0, 2.0), beta=-0.5, s=3.0, seed=1)(torch.from_numpy(ei), n, torch.from_numpy(w))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-4, atol=1e-5)
    assert torch.all(got[50:] == 0)
    # a CSRGraph is accepted as it is (its weights are used)
    g = CSRGraph.from_edge_index(ei, num_nodes=n, weights=w)
    got2 = FastRP(dim=16, weights=(1.0, 2.0), beta=-0.5, s=3.0, seed=1)(g)
    np.testing.assert_allclose(got2.numpy(), ref, rtol=1e-4, atol=1e-5)


def test_very_sparse_projection_statistics():
    R = very_sparse_projection(4000, 64, 16.0, seed=5)
    vals = np.unique(R)
    assert set(vals.tolist()) == {-4.0, 0.0, 4.0}
    nz = (R != 0).mean()
    assert abs(nz - 1 / 16) < 0.005  # 256k entries: sd of the density ~ 5e-4
    assert abs((R > 0).mean() - (R < 0).mean()) < 0.004
    assert abs((R.astype(np.float64) ** 2).mean() - 1.0) < 0.05  # unit variance entries
    assert np.array_equal(R, very_sparse_projection(4000, 64, 16.0, seed=5))
    assert not np.array_equal(R, very_sparse_projection(4000, 64, 16.0, seed=6))


def test_blogcatalog_embeddings_classify_well():
    d = load_blogcatalog()
    emb = FastRP(dim=64, weights=(0.0, 0.0, 1.0, 6.0), beta=-0.9)(torch.from_numpy(d["edge_index"]), d["num_nodes"])
    assert emb.shape == (10312, 64) and torch.isfinite(emb).all()
    r = node_classification_f1(emb, d["labels"], 0.5, max_iter=40)
    # a random embedding gets ~0.17 Micro-F1 here (the label frequencies alone)
    rnd = node_classification_f1(torch.randn(10312, 64), d["labels"], 0.5, max_iter=40)
    assert r["micro_f1"] > 0.3 and r["micro_f1"] > rnd["micro_f1"] + 0.1


def test_validation():
    with pytest.raises(ValueError, match="dim must be"):
        FastRP(dim=0)
    with pytest.raises(ValueError, match="weights must be"):
        FastRP(weights=())
    with pytest.raises(ValueError, match="s must be"):
        FastRP(s=0.5)
    with pytest.raises(ValueError, match="beta must be"):
        FastRP(beta=float("nan"))
    with pytest.raises(ValueError, match="non-negative"):
        FastRP(dim=4)(torch.tensor([[0, 1], [1, 0]]), 2, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="must lie in"):
        FastRP(dim=4)(torch.tensor([[0, 5], [1, 0]]), 3)
    with pytest.raises(ValueError, match="s must be"):
        very_sparse_projection(3, 3, 0.0)


def test_top_k_and_f1_match_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    Y = rng.random((300, 7)) < 0.3
    Y[np.arange(300), rng.integers(0, 7, 300)] = True
    S = rng.standard_normal((300, 7))
    P = top_k_labels(S, Y.sum(1))
    assert np.array_equal(P.sum(1), Y.sum(1))
    for i in range(0, 300, 37):  # the k highest scores of each row
        k = Y[i].sum()
        assert set(np.flatnonzero(P[i])) == set(np.argsort(-S[i], kind="stable")[:k])
    mi, ma = multilabel_f1(Y, P)
    assert mi == pytest.approx(f1_score(Y, P, average="micro"))
    assert ma == pytest.approx(f1_score(Y, P, average="macro", zero_division=0))
    with pytest.raises(ValueError, match="must lie in"):
        top_k_labels(S, np.full(300, 8))


def test_logistic_regression_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    from graphkit.embed.evaluate import _fit_logistic

    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 6))
    Y = (X @ rng.standard_normal((6, 3)) + 0.5 * rng.standard_normal((200, 3))) > 0
    W, b = _fit_logistic(X, Y, C=0.5, max_iter=500)
    for lab in range(3):
        ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=5000).fit(X, Y[:, lab])
        np.testing.assert_allclose(W[:, lab], ref.coef_[0], rtol=1e-3, atol=1e-4)
        assert b[lab] == pytest.approx(ref.intercept_[0], rel=1e-3, abs=1e-4)


@pytest.mark.gpu
def test_cuda_matches_cpu(cora):
    ei, n = cora
    f = FastRP(dim=64, weights=(0.0, 1.0, 2.0), beta=-0.5)
    cpu = f(torch.from_numpy(ei), n)
    gpu = f(torch.from_numpy(ei).cuda(), n)
    assert gpu.is_cuda
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), rtol=1e-4, atol=1e-5)
