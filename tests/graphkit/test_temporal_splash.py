"""SPLASH: the streaming feature kernel against a brute-force reference (only earlier events
count), automatic selection keeps the best candidate, a short run on a Wikipedia slice."""

import numpy as np
import pytest
import torch

from graphkit.datasets import load_temporal
from graphkit.temporal._kernels import stream_features
from graphkit.temporal.splash import SPLASH

torch.set_num_threads(1)


def _reference(src, dst, t, R, tau, taus):
    E, d = src.size, R.shape[1]
    pos = np.zeros((E, 2, d))
    st = np.zeros((E, 2, 6))
    for e in range(E):
        for side, u in enumerate((src[e], dst[e])):
            past = [j for j in range(e) if src[j] == u or dst[j] == u]
            for j in past:
                w = dst[j] if src[j] == u else src[j]
                pos[e, side] += np.exp(-(t[e] - t[j]) / tau) * R[w]
            for k in range(3):
                st[e, side, k] = np.log1p(sum(np.exp(-(t[e] - t[j]) / taus[k]) for j in past))
            st[e, side, 3] = np.log1p(len(past))
            if past:
                st[e, side, 4] = np.log1p(t[e] - t[past[-1]])
                st[e, side, 5] = np.log1p((t[e] - t[past[0]]) / len(past))
    return pos, st


def test_stream_features_match_brute_force():
    g = load_temporal("wikipedia")[:300]
    src, dst, t = np.asarray(g.src), np.asarray(g.dst), np.asarray(g.t, dtype=np.float64)
    R = np.random.default_rng(0).standard_normal((g.num_nodes, 4)).astype(np.float32)
    tau, taus = 500.0, np.array([50.0, 500.0, 5000.0])
    pos, st = stream_features(src, dst, t, R, tau, taus)
    rpos, rst = _reference(src, dst, t, R, tau, taus)
    np.testing.assert_allclose(pos, rpos, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(st, rst, rtol=1e-4, atol=1e-5)
    assert np.abs(pos).sum() > 0 and st[:, :, 3].max() > 2
    # only earlier events count: a prefix of the stream gives the same rows
    pos2, st2 = stream_features(src[:200], dst[:200], t[:200], R, tau, taus)
    np.testing.assert_array_equal(pos2, pos[:200])
    np.testing.assert_array_equal(st2, st[:200])


def test_selection_and_short_node_classification():
    g = load_temporal("wikipedia")[:40000]
    s = SPLASH(g, feature_dim=8, num_neighbors=5, hidden=16, seed=0)
    res = s.fit_node_classification(epochs=1, lr=3e-3, batch_size=500)
    sel = res["selection"]
    assert set(sel) == {"random", "positional", "structural"}
    finite = {k: v for k, v in sel.items() if np.isfinite(v)}
    assert res["selected"] == max(finite, key=finite.get)
    assert 0.0 <= res["test"]["auroc"] <= 1.0
    assert s.predict(np.arange(10)).shape == (10,)


def test_arguments_are_checked():
    g = load_temporal("collegemsg")[:50]
    with pytest.raises(ValueError, match="edge_label"):
        SPLASH(g)
    w = load_temporal("wikipedia")[:50]
    with pytest.raises(ValueError, match="candidates"):
        SPLASH(w, candidates=("spectral",))
