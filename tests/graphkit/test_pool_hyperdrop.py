"""Dual hypergraph transformation (DHT) and HyperDrop on real TU graphs."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

pytest.importorskip("torch_geometric")

from torch_geometric.data import Batch  # noqa: E402

from graphkit.datasets import load_tu  # noqa: E402
from graphkit.pool import HyperDrop, dual_hypergraph, inverse_dual_hypergraph  # noqa: E402


@pytest.mark.parametrize("name", ["MUTAG", "PROTEINS", "ENZYMES"])
def test_dual_transform_round_trip(name):
    b = Batch.from_data_list(load_tu(name)[:30])
    ea = b.edge_attr if b.edge_attr is not None else torch.randn(b.num_edges, 3)
    dual_x, hidx, hattr = dual_hypergraph(b.x, b.edge_index, ea)
    assert torch.equal(dual_x, ea) and torch.equal(hattr, b.x)
    x, ei, ea2 = inverse_dual_hypergraph(dual_x, hidx, hattr)
    assert torch.equal(x, b.x) and torch.equal(ei, b.edge_index) and torch.equal(ea2, ea)
    # the dual's incidence is the transpose of the graph's (N, E) incidence matrix
    n, e = b.num_nodes, b.num_edges
    rows = b.edge_index.t().reshape(-1).numpy()
    M = sp.coo_matrix((np.ones(2 * e), (rows, np.repeat(np.arange(e), 2))), shape=(n, e)).toarray()
    Mt = sp.coo_matrix((np.ones(2 * e), (hidx[0].numpy(), hidx[1].numpy())), shape=(e, n)).toarray()
    np.testing.assert_array_equal(Mt, M.T)
    # removing dual nodes and renumbering gives back the graph without those edges
    keep = torch.rand(e, generator=torch.Generator().manual_seed(0)) < 0.5
    entries = keep[hidx[0]]
    new_id = torch.cumsum(keep.long(), 0) - 1
    _, ei3, ea3 = inverse_dual_hypergraph(dual_x[keep], torch.stack([new_id[hidx[0, entries]], hidx[1, entries]]), hattr)
    assert torch.equal(ei3, b.edge_index[:, keep]) and torch.equal(ea3, ea[keep])


def test_inverse_rejects_non_graph_incidence():
    with pytest.raises(ValueError, match="dual node 1 is in 3 hyperedges"):
        inverse_dual_hypergraph(torch.zeros(2, 1), torch.tensor([[0, 0, 1, 1, 1], [0, 1, 0, 1, 2]]), torch.zeros(3, 1))
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        dual_hypergraph(torch.zeros(3, 1), torch.zeros(3, 2, dtype=torch.long))


def test_forward_checks_edge_index_once(monkeypatch):
    """HyperDrop's forward validates edge_index once (each check waits for the GPU on CUDA),
    not again in each helper; the public helpers and edge_representations still check."""
    import graphkit.pool.hyperdrop as hd

    calls = []
    real = hd.check_edge_index
    monkeypatch.setattr(hd, "check_edge_index", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    b = Batch.from_data_list(load_tu("MUTAG")[:4])
    torch.manual_seed(0)
    m = HyperDrop(7, 4, 8)
    out = m(b.x, b.edge_index, b.edge_attr, b.batch)
    assert len(calls) == 1 and out[1].shape[1] < b.num_edges
    calls.clear()
    m.edge_representations(b.x, b.edge_index, b.edge_attr)
    assert len(calls) == 1
    bad = b.edge_index.clone()
    bad[0, 0] = b.num_nodes
    with pytest.raises(ValueError, match="refers to node"):
        m(b.x, bad, b.edge_attr, b.batch)
    with pytest.raises(ValueError, match="refers to node"):
        m.edge_representations(b.x, bad, b.edge_attr)


def _initial_edges(m, x, edge_index, edge_attr):
    """HyperDrop's symmetric initial features of every directed edge."""
    xi, xj = x[edge_index[0]], x[edge_index[1]]
    e = m.lin_sum(xi + xj) + m.lin_diff((xi - xj).abs())
    return e + m.lin_edge(edge_attr) if m.lin_edge is not None else e


def _hgnn_reference(H, e0, conv):
    """relu(D_v^-1 H B^-1 H^T E Theta + b) for an (E, M) dual incidence H (dense numpy)."""
    theta = conv.lin.weight.detach().double().numpy().T
    Dv, B = H.sum(1), H.sum(0)
    Binv = np.where(B > 0, 1.0 / np.maximum(B, 1), 0.0)
    return np.maximum((H / Dv[:, None]) @ (Binv[:, None] * H.T) @ (e0 @ theta) + conv.bias.detach().double().numpy(), 0)


@pytest.mark.parametrize("self_loops", [False, True])
def test_dual_convolution_is_hgnn_on_transposed_incidence(self_loops):
    """One HyperDrop dual layer = relu(D_v^-1 M^T B^-1 M E Theta + b), with M the (N, E)
    incidence matrix and D_v, B the dual node / hyperedge degrees (dense numpy); with
    ``self_loops`` M gets an identity block below it (EHGNN's DHT(add_loops=True))."""
    b = Batch.from_data_list(load_tu("MUTAG")[:3])
    torch.manual_seed(0)
    m = HyperDrop(7, 4, 8, num_layers=1, self_loops=self_loops).eval()
    e, hidx, unit, _ = m.edge_representations(b.x, b.edge_index, b.edge_attr)
    e = e[unit]
    e0 = _initial_edges(m, b.x, b.edge_index, b.edge_attr).detach().double().numpy()
    n, E = b.num_nodes, b.num_edges
    M = np.zeros((n, E))
    np.add.at(M, (b.edge_index.t().reshape(-1).numpy(), np.repeat(np.arange(E), 2)), 1.0)
    assert (M.sum(1) != 1).all()   # no hyperedge of one dual node here, so the loops only add I
    H = np.hstack([M.T, np.eye(E)]) if self_loops else M.T
    np.testing.assert_allclose(e.detach().double().numpy(), _hgnn_reference(H, e0, m.convs[0]), atol=1e-4)


def test_dual_self_loops_replace_single_entry_hyperedges():
    """A node with one incident entry (node 3 of the directed 0->3) is a hyperedge of one
    dual node; the self-loop repeats it, so it is left out, as in EHGNN's DHT."""
    from torch_geometric.nn import HypergraphConv

    from graphkit.pool.hyperdrop import dual_self_loops

    ei = torch.tensor([[0, 1, 2, 0], [1, 2, 0, 3]])
    _, hidx, _ = dual_hypergraph(torch.zeros(4, 1), ei)
    loops, m = dual_self_loops(hidx, 4, 4)
    assert m == 8 and 3 not in loops[1].tolist()
    H = np.zeros((4, 8))
    H[loops[0].numpy(), loops[1].numpy()] = 1
    expected = np.zeros((4, 8))
    for d, (s, t) in enumerate(ei.t().tolist()):
        for v in (s, t):
            if v != 3:
                expected[d, v] = 1
        expected[d, 4 + d] = 1
    np.testing.assert_array_equal(H, expected)
    torch.manual_seed(0)
    conv = HypergraphConv(3, 5)
    e0 = torch.randn(4, 3)
    np.testing.assert_allclose(F.relu(conv(e0, loops, num_edges=m)).detach().double().numpy(),
                               _hgnn_reference(expected, e0.double().numpy(), conv), atol=1e-5)


def test_hyperdrop_keeps_top_edges_per_graph():
    graphs = load_tu("PROTEINS")[:6]
    b = Batch.from_data_list(graphs)
    torch.manual_seed(0)
    m = HyperDrop(b.x.shape[1], 0, 16, ratio=0.5).eval()
    x, ei, ea, batch, perm, score = m(b.x, b.edge_index, batch=b.batch)
    assert torch.equal(x, b.x) and ea.shape == (ei.shape[1], 16)
    assert torch.equal(ei, b.edge_index[:, perm])
    eb = b.batch[b.edge_index[0]]
    for g, d in enumerate(graphs):
        k = int(np.ceil(0.5 * d.num_edges))
        kept = perm[eb[perm] == g]
        assert kept.numel() == k
        s = score[eb == g]
        assert score[kept].min() >= torch.sort(s, descending=True).values[k - 1] - 1e-6
    assert HyperDrop(4, ratio=3)(torch.randn(5, 4), torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]]))[1].shape == (2, 3)
    with pytest.raises(ValueError, match="ratio"):
        HyperDrop(4, ratio=1.5)
    with pytest.raises(ValueError, match="edge_attr must have 4 columns"):
        HyperDrop(7, 4)(b.x[:, :7] if b.x.shape[1] >= 7 else torch.randn(b.num_nodes, 7), b.edge_index)


def test_ratio_one_keeps_everything():
    """A float ratio 1.0 keeps every edge (every node in RegionProposalPool); PyG's topk
    alone reads it as the count 1 and keeps one per graph. An int ratio stays a count."""
    from graphkit.pool import RegionProposalPool
    from graphkit.pool.hyperdrop import top_per_graph

    graphs = load_tu("MUTAG")[:5]
    b = Batch.from_data_list(graphs)
    torch.manual_seed(0)
    _, ei, _, _, perm, _ = HyperDrop(b.x.shape[1], 0, 8, ratio=1.0).eval()(b.x, b.edge_index, batch=b.batch)
    assert torch.equal(ei, b.edge_index) and torch.equal(perm, torch.arange(b.num_edges))
    pool = RegionProposalPool(b.x.shape[1], 3, num_anchors=2, ratio=1, heads=1).eval()
    pool(b.x, b.edge_index, b.batch)
    assert torch.equal(pool.last_perm, torch.arange(b.num_nodes))
    score = torch.randn(b.num_nodes)
    assert torch.bincount(b.batch[top_per_graph(score, 2, b.batch)]).tolist() == [2] * 5
    half = top_per_graph(score, 0.5, b.batch)
    assert torch.equal(half, torch.sort(half).values)
    assert torch.bincount(b.batch[half]).tolist() == [-(-g.num_nodes // 2) for g in graphs]


def _pyg_directed(m, x, edge_index, edge_attr):
    """HyperDrop's edge features and scores as before the grouping: PyG ``HypergraphConv``
    on the directed dual, one dual node per directed edge."""
    from graphkit.pool.hyperdrop import dual_self_loops

    e = _initial_edges(m, x, edge_index, edge_attr)
    _, hidx, _ = dual_hypergraph(x, edge_index)
    idx, k = dual_self_loops(hidx, x.shape[0], e.shape[0]) if m.self_loops else (hidx, x.shape[0])
    for conv in m.convs:
        e = F.relu(conv(e, idx, num_edges=k))
    return e, m.score(e, idx, num_edges=k).view(-1)


@pytest.mark.parametrize("name,self_loops", [("MUTAG", True), ("PROTEINS", True), ("PROTEINS", False), ("NCI1", True)])
def test_grouped_dual_equals_directed_dual(name, self_loops):
    """Convolving once per undirected edge (dual_units + dual_hgnn_operator) gives every
    directed edge the features and score of PyG HypergraphConv on the directed dual, in
    float64, on real graphs (MUTAG with bond features), and the same gradients."""
    graphs = load_tu(name)[:20]
    b = Batch.from_data_list(graphs)
    ec = b.edge_attr.shape[1] if b.edge_attr is not None else 0
    torch.manual_seed(0)
    m = HyperDrop(b.x.shape[1], ec, 16, ratio=0.5, num_layers=2, self_loops=self_loops).double().train()
    x, ea = b.x.double(), (b.edge_attr.double() if ec else None)
    e, hidx, unit, _ = m.edge_representations(x, b.edge_index, ea)
    assert e.shape[0] == b.num_edges // 2  # TU graphs: every edge stored both ways
    ref_e, ref_s = _pyg_directed(m, x, b.edge_index, ea)
    torch.testing.assert_close(e[unit], ref_e, rtol=1e-10, atol=1e-12)
    out = m(x, b.edge_index, ea, b.batch)
    torch.testing.assert_close(out[5], ref_s, rtol=1e-10, atol=1e-12)
    loss = (out[2] ** 2).sum()
    grads = torch.autograd.grad(loss, list(m.parameters()))
    perm = out[4]
    ref_loss = ((ref_e[perm] * torch.tanh(ref_s[perm]).unsqueeze(1)) ** 2).sum()
    ref_grads = torch.autograd.grad(ref_loss, list(m.parameters()))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-11)


def test_dual_units_keep_differing_edges_apart():
    """Edges group only with the same endpoints (either way round) and equal features; a
    directed edge without its reverse, a repeat and a leaf's edge (a node in one edge)
    still match the directed dual exactly."""
    from graphkit.pool.hyperdrop import dual_units

    ei = torch.tensor([[0, 1, 1, 2, 2, 0, 3, 0, 0], [1, 0, 2, 1, 0, 2, 0, 3, 1]])
    ea = torch.tensor([[1.0], [1.0], [2.0], [3.0], [4.0], [4.0], [5.0], [5.0], [1.0]])
    unit, num = dual_units(ei, ea)
    assert num == 5
    same = (unit[:, None] == unit[None, :]).numpy()
    expected = np.zeros((9, 9), dtype=bool)
    for group in ([0, 1, 8], [2], [3], [4, 5], [6, 7]):
        expected[np.ix_(group, group)] = True
    np.testing.assert_array_equal(same, expected)
    assert dual_units(ei)[1] == 4 and dual_units(ei[:, :0])[1] == 0
    nan = ea.clone()
    nan[1] = float("nan")
    assert dual_units(ei, nan)[1] == 6
    nan[0] = float("nan")  # the group's first edge: the group empties, ids stay 0..num-1
    unit_nan, num_nan = dual_units(ei, nan)
    assert num_nan == 7 and sorted(set(unit_nan.tolist())) == list(range(7))
    torch.manual_seed(0)
    x = torch.randn(5, 3, dtype=torch.float64)
    for loops in (True, False):
        m = HyperDrop(3, 1, 8, ratio=0.5, self_loops=loops).double()
        ei1, ea1 = torch.cat([ei, torch.tensor([[4], [3]])], 1), torch.cat([ea, torch.tensor([[6.0]])]).double()
        e, _, u, _ = m.edge_representations(x, ei1, ea1)
        ref_e, ref_s = _pyg_directed(m, x, ei1, ea1)
        torch.testing.assert_close(e[u], ref_e, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(m(x, ei1, ea1)[5], ref_s, rtol=1e-10, atol=1e-12)
    empty = m(x, ei[:, :0], ea[:0].double())
    assert empty[1].shape == (2, 0) and empty[2].shape == (0, 8) and empty[5].shape == (0,)
