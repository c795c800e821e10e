"""HistoGraphReadout against a slow per-node / per-graph loop reference on MUTAG graphs."""

import math

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from torch_geometric.data import Batch  # noqa: E402

from graphkit.datasets import load_tu  # noqa: E402
from graphkit.pool import HistoGraphReadout, segment_softmax  # noqa: E402


def _reference(m: HistoGraphReadout, xs, batch, size):
    """The paper's equations with explicit loops over graphs, nodes, layers and heads (float64)."""
    P = {k: v.detach().double().numpy() for k, v in m.state_dict().items()}
    lin = lambda name, a: a @ P[f"{name}.weight"].T + P[f"{name}.bias"]  # noqa: E731
    d, H = m.hidden_channels, m.heads
    dh = d // H
    xs = [x.double().numpy() for x in xs]
    L = len(xs)
    pos = np.array([[math.sin(l / 10000 ** (2 * (c // 2) / d)) if c % 2 == 0 else
                     math.cos(l / 10000 ** (2 * (c // 2) / d)) for c in range(d)] for l in range(L)])
    b = batch.numpy()
    out, weights, scores = [], [], []
    for gi in range(size):
        nodes = np.flatnonzero(b == gi)
        t = np.stack([[lin("proj.0", xs[l][v]) + pos[l] for l in range(L)] for v in nodes])  # (n, L, d)
        c = np.zeros(L)
        for r in range(len(nodes)):
            q = lin("q", t[r, -1])
            for l in range(L):
                c[l] += q @ lin("k", t[r, l]) / math.sqrt(d) / len(nodes)
        a = c / c.sum()
        weights.append(a)
        scores.append(c)
        h = np.stack([sum(a[l] * t[r, l] for l in range(L)) for r in range(len(nodes))])
        q, k, v = lin("q2", h), lin("k2", h), lin("v2", h)
        att = np.zeros_like(h)
        for r in range(len(nodes)):
            for hh in range(H):
                sl = slice(hh * dh, (hh + 1) * dh)
                sc = np.array([q[r, sl] @ k[u, sl] for u in range(len(nodes))]) / math.sqrt(dh)
                w = np.exp(sc - sc.max()) / np.exp(sc - sc.max()).sum()
                att[r, sl] = w @ v[:, sl]
        z = h + lin("o2", att)
        mu, var = z.mean(-1, keepdims=True), z.var(-1, keepdims=True)
        z = (z - mu) / np.sqrt(var + 1e-5) * P["norm.weight"] + P["norm.bias"]
        out.append(lin("out", z.mean(0)))
    return np.stack(out), np.stack(weights), np.stack(scores)


def test_matches_loop_reference_on_mutag():
    b = Batch.from_data_list(load_tu("MUTAG")[:4])
    torch.manual_seed(0)
    xs = [b.x, torch.relu(b.x @ torch.randn(7, 7)), torch.tanh(b.x @ torch.randn(7, 7))]
    m = HistoGraphReadout(7, 8, 3, num_layers=5, heads=2).eval()
    got = m(xs, b.batch).detach().double().numpy()
    want, weights, _ = _reference(m, xs, b.batch, b.num_graphs)
    np.testing.assert_allclose(got, want, atol=1e-4)
    att = m.layer_attention
    assert att.shape == (b.num_graphs, 3)
    np.testing.assert_allclose(att.double().numpy(), weights, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(att.sum(-1), torch.ones(b.num_graphs))


def test_softmax_layer_weighting():
    b = Batch.from_data_list(load_tu("MUTAG")[:3])
    torch.manual_seed(2)
    xs = [b.x, torch.relu(b.x @ torch.randn(7, 7)), torch.tanh(b.x @ torch.randn(7, 7))]
    soft = HistoGraphReadout(7, 8, 3, heads=2, layer_weighting="softmax").eval()
    soft(xs, b.batch)
    _, _, c = _reference(soft, xs, b.batch, 3)  # the graphs' mean layer scores
    want = np.exp(c - c.max(1, keepdims=True))
    np.testing.assert_allclose(soft.layer_attention.double().numpy(), want / want.sum(1, keepdims=True),
                               rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="layer_weighting"):
        HistoGraphReadout(7, 8, layer_weighting="max")


def test_nodes_need_not_be_grouped_by_graph():
    b = Batch.from_data_list(load_tu("MUTAG")[:3])
    torch.manual_seed(1)
    xs = [b.x, torch.relu(b.x @ torch.randn(7, 7))]
    m = HistoGraphReadout(7, 8, 3, heads=2).eval()
    perm = torch.randperm(b.num_nodes)  # interleaves the graphs' nodes
    torch.testing.assert_close(m([x[perm] for x in xs], b.batch[perm], 3), m(xs, b.batch, 3))
    # an empty graph in the batch gets out(0) and leaves the others unchanged
    got = m(xs, b.batch + (b.batch > 0).long(), 4)
    torch.testing.assert_close(got[[0, 2, 3]], m(xs, b.batch, 3))
    torch.testing.assert_close(got[1], m.out.bias)


def test_segment_softmax_matches_loop():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(20, 3, generator=g) * 10
    idx = torch.sort(torch.randint(0, 4, (20,), generator=g)).values
    out = segment_softmax(s, idx, 5)
    for k in range(4):
        sel = idx == k
        if sel.any():
            torch.testing.assert_close(out[sel], torch.softmax(s[sel], 0))


def test_per_layer_widths_and_validation():
    m = HistoGraphReadout([5, 7, 9], hidden_channels=8, heads=2)
    x = [torch.randn(6, c) for c in (5, 7, 9)]
    assert m(x).shape == (1, 8)
    u = HistoGraphReadout(4, hidden_channels=8, heads=2).eval()
    h = torch.randn(6, 3, 4)
    torch.testing.assert_close(u(h), u(list(h.unbind(1))))
    with pytest.raises(ValueError, match="history\\[1\\] has 5 features, expected 7"):
        m([x[0], x[0], x[2]])
    with pytest.raises(ValueError, match="divisible"):
        HistoGraphReadout(4, hidden_channels=10, heads=3)
    with pytest.raises(ValueError, match="at most 2"):
        HistoGraphReadout(4, 8, num_layers=2, heads=2)(torch.randn(3, 3, 4))
    with pytest.raises(TypeError, match="non-empty list"):
        HistoGraphReadout(4, 8, heads=2)([])


def test_size_buckets_cover_every_graph_once_within_the_padding_bound():
    from graphkit.pool.histograph import size_buckets

    rng = np.random.default_rng(0)
    counts = [int(c) for c in rng.integers(0, 120, 300)] + [620, 0, 1]
    groups = size_buckets(counts, slack=2.0)
    flat = sorted(g for grp in groups for g in grp)
    assert flat == [g for g, c in enumerate(counts) if c]
    for grp in groups:
        m = max(counts[g] for g in grp)
        assert len(grp) == 1 or len(grp) * m * m <= 2.0 * sum(counts[g] ** 2 for g in grp)
    assert len(groups) < 40  # a few buckets, not one per graph


@pytest.mark.parametrize("split", ["each", "one"])
def test_node_attention_does_not_depend_on_the_buckets(monkeypatch, split):
    import graphkit.pool.histograph as hg

    b = Batch.from_data_list(load_tu("MUTAG")[:30])
    torch.manual_seed(0)
    m = HistoGraphReadout(7, 8, 3, heads=2).eval()
    h = torch.randn(b.num_nodes, 8)
    want = m.node_attention(h, b.batch, b.num_graphs)
    assert len(hg.size_buckets(torch.bincount(b.batch).tolist())) >= 1
    if split == "each":
        monkeypatch.setattr(hg, "size_buckets", lambda counts: [[g] for g, c in enumerate(counts) if c])
    else:
        monkeypatch.setattr(hg, "size_buckets", lambda counts: [[g for g, c in sorted(enumerate(counts), key=lambda x: x[1]) if c]])
    torch.testing.assert_close(m.node_attention(h, b.batch, b.num_graphs), want, atol=1e-5, rtol=1e-5)
