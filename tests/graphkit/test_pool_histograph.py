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
    """The readout's equations with explicit loops over nodes, heads and graphs (float64)."""
    P = {k: v.detach().double().numpy() for k, v in m.state_dict().items()}
    lin = lambda name, a: a @ P[f"{name}.weight"].T + P[f"{name}.bias"]  # noqa: E731

    def ln(a, name):
        mu, var = a.mean(-1, keepdims=True), a.var(-1, keepdims=True)
        return (a - mu) / np.sqrt(var + 1e-5) * P[f"{name}.weight"] + P[f"{name}.bias"]

    H, d = m.heads, m.hidden_channels
    dh = d // H
    xs = [x.double().numpy() for x in xs]
    L = len(xs)
    z = []
    for v in range(xs[0].shape[0]):
        t = np.stack([lin("proj.0", xs[l][v]) + P["layer_pos"][l] for l in range(L)])
        q, k, val = lin("q", t[-1]), lin("k", t), lin("v", t)
        out = np.zeros(d)
        for h in range(H):
            s = slice(h * dh, (h + 1) * dh)
            a = np.array([q[s] @ k[l, s] for l in range(L)]) / math.sqrt(dh)
            a = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
            out[s] = sum(a[l] * val[l, s] for l in range(L))
        z.append(ln(t[-1] + out, "norm1"))
    z = np.stack(z)
    g = np.zeros((size, d))
    b = batch.numpy()
    for gi in range(size):
        zs = z[b == gi]
        k, val = lin("k2", zs), lin("v2", zs)
        for h in range(H):
            s = slice(h * dh, (h + 1) * dh)
            sc = k[:, s] @ P["seed"][h] / math.sqrt(dh)
            a = np.exp(sc - sc.max()) / np.exp(sc - sc.max()).sum()
            g[gi, s] = a @ val[:, s]
    return lin("out", ln(g, "norm2"))


def test_matches_loop_reference_on_mutag():
    b = Batch.from_data_list(load_tu("MUTAG")[:4])
    torch.manual_seed(0)
    xs = [b.x, torch.relu(b.x @ torch.randn(7, 7)), torch.tanh(b.x @ torch.randn(7, 7))]
    m = HistoGraphReadout(7, 8, 3, num_layers=5, heads=2).eval()
    got = m(xs, b.batch).detach().double().numpy()
    np.testing.assert_allclose(got, _reference(m, xs, b.batch, b.num_graphs), atol=1e-4)
    att = m.layer_attention
    assert att.shape == (b.num_nodes, 2, 3)
    torch.testing.assert_close(att.sum(-1), torch.ones(b.num_nodes, 2))


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
