"""Common-neighbour sets and heuristics of graphkit.linkpred against networkx on Cora."""

import networkx as nx
import numpy as np
import pytest
import torch

from graphkit.datasets import load_planetoid
from graphkit.linkpred import (adamic_adar, common_neighbor_sets, common_neighbors, heuristic, link_graph,
                               resource_allocation, two_hop_candidates)
from native import device as dev


@pytest.fixture(scope="module")
def cora():
    d = load_planetoid("cora")
    ei = torch.from_numpy(d.edge_index)
    G = nx.Graph()
    G.add_nodes_from(range(d.num_nodes))
    G.add_edges_from(d.edge_index.T.tolist())
    rng = np.random.default_rng(0)
    # pairs with and without common neighbours: random pairs, edges, and two-hop pairs
    rand = rng.integers(0, d.num_nodes, (2, 300))
    edges = d.edge_index[:, rng.choice(d.edge_index.shape[1], 300, replace=False)]
    two_hop = np.array([[u, w] for u, v in edges.T[:150] for w in list(G[v])[:2] if w != u]).T
    pairs = torch.from_numpy(np.concatenate([rand, edges, two_hop], axis=1))
    return d.num_nodes, ei, G, pairs


@pytest.fixture(params=["cpu", "torch"])
def device_kind(request, monkeypatch):
    """'cpu': the Numba kernels. 'torch': the CUDA (torch-op) kernels run on CPU tensors."""
    if request.param == "torch":
        monkeypatch.setattr(dev, "device_of", lambda *a: dev.CUDA if any(torch.is_tensor(x) for x in a) else dev.CPU)
        monkeypatch.setattr(dev, "cuda_available", lambda: True)
    return request.param


def _graph(ei, n, kind):
    if kind == "cpu":
        return link_graph(ei, n)
    from native.csr import CSRGraph

    g = link_graph(ei, n)  # numpy arrays; hand the torch kernels tensors
    return CSRGraph._trusted(torch.from_numpy(g.indptr), torch.from_numpy(g.indices.astype(np.int64)))


def test_common_neighbor_sets_match_networkx(cora, device_kind):
    n, ei, G, pairs = cora
    g = _graph(ei, n, device_kind)
    common, only_u, only_v = common_neighbor_sets(g, pairs, residual=True)
    for b, (u, v) in enumerate(pairs.T.tolist()):
        nu, nv = set(G[u]) - {u}, set(G[v]) - {v}
        got = common.nodes[common.ptr[b]:common.ptr[b + 1]].tolist()
        assert got == sorted(nx.common_neighbors(G, u, v)) if u != v else True
        assert got == sorted(nu & nv)
        assert only_u.nodes[only_u.ptr[b]:only_u.ptr[b + 1]].tolist() == sorted(nu - nv - {v})
        assert only_v.nodes[only_v.ptr[b]:only_v.ptr[b + 1]].tolist() == sorted(nv - nu - {u})


def test_pair_index_and_counts(cora):
    n, ei, G, pairs = cora
    s = common_neighbor_sets(ei, pairs, num_nodes=n)
    assert s.pair_index().shape == s.nodes.shape
    assert s.counts().tolist() == [len(set(G[u]) & set(G[v])) for u, v in pairs.T.tolist()]


def test_heuristics_match_networkx(cora, device_kind):
    n, ei, G, pairs = cora
    g = _graph(ei, n, device_kind)
    plist = [(u, v) for u, v in pairs.T.tolist() if u != v]
    p = torch.tensor(plist).T
    cn = common_neighbors(g, p)
    assert cn.tolist() == [float(len(list(nx.common_neighbors(G, u, v)))) for u, v in plist]
    aa = [s for _, _, s in nx.adamic_adar_index(G, plist)]
    ra = [s for _, _, s in nx.resource_allocation_index(G, plist)]
    np.testing.assert_allclose(adamic_adar(g, p).numpy(), aa, rtol=1e-12, atol=0)
    np.testing.assert_allclose(resource_allocation(g, p).numpy(), ra, rtol=1e-12, atol=0)
    assert torch.equal(heuristic("ra", g, p), resource_allocation(g, p))



def _two_hop_reference(G, u, name):
    """{v: score} over nodes two hops from u (not u, not a neighbour), summed over sorted w."""
    nbrs = set(G[u])
    out = {}
    for w in sorted(nbrs):
        d = G.degree(w)  # >= 2 whenever w leads to some v
        wt = 1.0 if name == "cn" else 1.0 / (np.log(d) if name == "aa" else d) if d > 1 else 0.0
        for v in G[w]:
            if v != u and v not in nbrs:
                out[v] = out.get(v, 0.0) + wt
    return out


@pytest.mark.parametrize("name", ["cn", "aa", "ra"])
def test_two_hop_candidates_match_networkx(cora, device_kind, name):
    n, ei, G, _ = cora
    g = _graph(ei, n, device_kind)
    deg = np.array([G.degree(v) for v in range(n)])
    # the hub, ordinary nodes, a leaf and a repeat
    q = [int(deg.argmax()), 0, 7, 500, 1358, int(np.flatnonzero(deg == 1)[0]), 0]
    k = 40
    scores, ids = two_hop_candidates(g, torch.tensor(q), k, heuristic=name)
    assert scores.shape == ids.shape == (len(q), k) and ids.dtype == torch.int64
    for r, u in enumerate(q):
        ref = _two_hop_reference(G, u, name)
        want = sorted(ref.items(), key=lambda t: (-t[1], t[0]))[:k]
        m = len(want)
        got_ids, got_s = ids[r].tolist(), scores[r].numpy()
        assert got_ids[m:] == [-1] * (k - m) and np.isneginf(got_s[m:]).all()
        np.testing.assert_allclose(got_s[:m], [s for _, s in want], rtol=1e-12)
        if name == "cn" or device_kind == "cpu":  # same summation order: ties break by id exactly
            assert got_ids[:m] == [v for v, _ in want]
        else:  # other summation order: equal up to ties within rounding
            assert {v for v, s in want if s > want[-1][1] + 1e-9} <= set(got_ids[:m])
        assert set(got_ids[:m]) <= set(ref)
    assert ids[0].ne(-1).all() and torch.equal(ids[1], ids[-1])
    lone = two_hop_candidates(torch.tensor([[0, 1], [1, 0]]), torch.tensor([0, 2]), 3, num_nodes=3)[1]
    assert lone.tolist() == [[-1] * 3] * 2  # nothing two hops from an edge's end or an isolated node
    with pytest.raises(ValueError, match="k must"):
        two_hop_candidates(g, torch.tensor([0]), 0)
    with pytest.raises(ValueError, match="heuristic"):
        two_hop_candidates(g, torch.tensor([0]), 5, heuristic="katz")
    with pytest.raises(ValueError, match="queries"):
        two_hop_candidates(g, torch.tensor([n]), 5)
    with pytest.raises(TypeError):
        two_hop_candidates(g, torch.tensor([0.5]), 5)

def test_duplicate_edges_and_self_loops_are_ignored():
    ei = torch.tensor([[0, 1, 0, 1, 2, 2, 0, 1], [2, 2, 2, 2, 0, 1, 0, 1]])
    s = common_neighbor_sets(ei, torch.tensor([[0], [1]]))
    assert s.nodes.tolist() == [2]


def test_input_validation(cora):
    n, ei, _, _ = cora
    with pytest.raises(ValueError, match="shape"):
        common_neighbor_sets(ei, torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="2708"):
        common_neighbor_sets(ei, torch.tensor([[0], [5000]]), num_nodes=n)
    with pytest.raises(TypeError, match="integers"):
        link_graph(ei.float())
    with pytest.raises(ValueError, match="heuristic"):
        heuristic("katz", ei, torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="num_nodes"):
        link_graph(ei, 10)
