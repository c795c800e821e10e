"""SEMBA: balance-theory messages against a hand computation, signs never leak into their
own prediction, F1 against scikit-learn (a short run is in test_temporal_notebook.py)."""

import numpy as np
import pytest
import torch

from graphkit.datasets import load_temporal
from graphkit.temporal.semba import SEMBA, f1_scores, fit_sign_prediction
from native import TemporalGraph

torch.set_num_threads(1)
DIMS = dict(memory_dim=8, time_dim=4, embedding_dim=8, num_neighbors=5)


@pytest.fixture(scope="module")
def otc():
    return load_temporal("bitcoin-otc")[:1200]


def _with_signs(g, signs):
    return TemporalGraph(g.src, g.dst, g.t, edge_label=signs, num_nodes=g.num_nodes)


def test_balance_messages_by_hand(otc):
    torch.manual_seed(0)
    m = SEMBA(otc.num_nodes, **DIMS).eval()
    m.set_graph(otc)
    a = max(0, int(np.flatnonzero(np.asarray(otc.edge_label) < 0)[0]) - 40)
    b = a + 80
    with torch.no_grad():
        m.mem_pos.normal_()
        m.mem_neg.normal_()
        P, Nn = m.mem_pos.clone(), m.mem_neg.clone()
        m.observe(otc.src[a:b], otc.dst[a:b], otc.t[a:b], np.arange(a, b))
        m.mem_pos.copy_(P)
        m.mem_neg.copy_(Nn)
        pos, neg, _ = m.current_memory()
    src, dst, t = np.asarray(otc.src), np.asarray(otc.dst), np.asarray(otc.t, dtype=np.float64)
    sign = np.asarray(otc.edge_label)
    last = {}
    for e in range(a, b):
        last[int(src[e])] = (e, int(dst[e]))
        last[int(dst[e])] = (e, int(src[e]))
    with torch.no_grad():
        for x, (e, y) in last.items():
            phi = m.time_enc(torch.tensor([t[e]]))[0]
            friend = sign[e] > 0
            to_pos = P[y] if friend else Nn[y]
            to_neg = Nn[y] if friend else P[y]
            torch.testing.assert_close(pos[x], m.gru_pos(torch.cat([P[x], to_pos, phi])[None], P[x][None])[0])
            torch.testing.assert_close(neg[x], m.gru_neg(torch.cat([Nn[x], to_neg, phi])[None], Nn[x][None])[0])
    assert (sign[a:b] < 0).any()  # the slice exercises both branches


def test_signs_of_the_predicted_batch_do_not_leak(otc):
    sign = np.asarray(otc.edge_label).copy()
    B, i = 100, 6
    flip_now, flip_before = sign.copy(), sign.copy()
    flip_now[i * B:] *= -1
    flip_before[(i - 1) * B:] *= -1
    out = []
    for s in (sign, flip_now, flip_before):
        torch.manual_seed(0)
        m = SEMBA(otc.num_nodes, **DIMS).eval()
        m.set_graph(_with_signs(otc, s))
        with torch.no_grad():
            for a in range(0, i * B, B):
                m.observe(otc.src[a:a + B], otc.dst[a:a + B], otc.t[a:a + B], np.arange(a, a + B))
            sl = slice(i * B, (i + 1) * B)
            out.append(m.sign_logits(otc.src[sl], otc.dst[sl], otc.t[sl]))
    torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)
    assert not torch.allclose(out[0], out[2])


def test_f1_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    f = f1_scores(y, p)
    assert f["neg_f1"] == pytest.approx(sk.f1_score(y, p, pos_label=0))
    assert f["macro_f1"] == pytest.approx(sk.f1_score(y, p, average="macro"))


def test_sign_metrics_match_sklearn():
    """AUC of the positive class and average precision of the negative class (lowest logits
    first) against sklearn, on logits with ties."""
    sk = pytest.importorskip("sklearn.metrics")
    from graphkit.temporal.semba import sign_metrics

    rng = np.random.default_rng(1)
    y = rng.random(500) < 0.85
    logits = np.round(np.where(y, 1.0, 0.0) + rng.normal(0, 1.0, 500), 1)
    m = sign_metrics(logits, y, threshold=0.3)
    assert m["auc"] == pytest.approx(sk.roc_auc_score(y, logits))
    assert m["neg_ap"] == pytest.approx(sk.average_precision_score(~y, -logits))
    assert m["neg_f1"] == pytest.approx(sk.f1_score(y, logits > 0.3, pos_label=False))


def test_semba_needs_signs():
    with pytest.raises(ValueError, match="edge_label"):
        SEMBA(10).set_graph(TemporalGraph([0], [1], [0], num_nodes=10))
    with pytest.raises(ValueError, match="model"):
        fit_sign_prediction(load_temporal("bitcoin-otc")[:10], model="gat")


def test_threshold_is_chosen_for_macro_f1():
    from graphkit.temporal.semba import best_threshold

    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.9
    logits = np.where(y, 3.0, 1.0) + rng.normal(0, 0.3, 400)  # all positive logits, separable at ~2
    thr = best_threshold(logits, y)
    assert 1.3 < thr < 2.7
    assert f1_scores(y.astype(int), (logits > thr).astype(int))["macro_f1"] > 0.95
