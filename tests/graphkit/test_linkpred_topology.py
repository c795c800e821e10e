"""Topological concentration (exact vs a networkx reference, ATC vs TC) and retrieval + re-ranking."""

import networkx as nx
import numpy as np
import pytest
import torch

from graphkit.datasets import load_planetoid
from graphkit.linkpred import (NCN, CandidateReranker, approximate_topological_concentration,
                               exhaustive_top_k, link_graph, per_node_hits, recall_at_k, spearman,
                               tc_edge_weights, topological_concentration)


@pytest.fixture(scope="module")
def cora():
    d = load_planetoid("cora")
    G = nx.Graph()
    G.add_nodes_from(range(d.num_nodes))
    G.add_edges_from(d.edge_index.T.tolist())
    return torch.from_numpy(d.x), torch.from_numpy(d.edge_index), d.num_nodes, G


def _tc_reference(G, i, hops, beta):
    def layers(x):
        dist = nx.single_source_shortest_path_length(G, x, cutoff=hops)
        return {k: {w for w, d in dist.items() if d == k} for k in range(1, hops + 1)}

    if G.degree(i) == 0:
        return float("nan")
    Li = layers(i)
    norm = sum(beta ** (a + b - 2) for a in range(1, hops + 1) for b in range(1, hops + 1))
    total = 0.0
    for j in G[i]:
        Lj = layers(j)
        s = 0.0
        for a in range(1, hops + 1):
            for b in range(1, hops + 1):
                union = len(Li[a] | Lj[b])
                if union:
                    s += beta ** (a + b - 2) * len(Li[a] & Lj[b]) / union
        total += s / norm
    return total / G.degree(i)


@pytest.mark.parametrize("hops,beta", [(1, 0.5), (2, 0.5), (3, 0.8)])
def test_tc_matches_networkx_reference(cora, hops, beta):
    _, ei, n, G = cora
    nodes = torch.tensor([0, 1, 5, 100, 633, 1358, 1701, 2700])
    got = topological_concentration(ei, n, hops=hops, beta=beta, nodes=nodes)
    want = [_tc_reference(G, i, hops, beta) for i in nodes.tolist()]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-15)


def test_tc_hop1_is_mean_jaccard_and_atc_correlates(cora):
    _, ei, n, G = cora
    tc = topological_concentration(ei, n, hops=1)
    jac = {}
    for u, v, p in nx.jaccard_coefficient(G, [(u, v) for u, v in G.edges()]):
        jac[(u, v)] = jac[(v, u)] = p
    for i in (0, 10, 2000):
        assert tc[i].item() == pytest.approx(np.mean([jac[(i, j)] for j in G[i]]), rel=1e-12)
    atc = approximate_topological_concentration(ei, n, hops=1, dim=64, seed=0)
    assert atc.shape == (n,)
    assert spearman(tc, atc) > 0.5


def test_per_node_hits_and_edge_weights(cora):
    _, ei, n, _ = cora
    pos = torch.tensor([[0, 1], [2, 0]])
    ph = per_node_hits(pos, torch.tensor([5.0, 0.0]), torch.tensor([1.0, 2.0, 3.0]), n, k=2)
    assert ph[0].item() == 0.5 and ph[1].item() == 0.0 and ph[2].item() == 1.0
    assert torch.isnan(ph[3])
    tc = topological_concentration(ei, n)
    w = tc_edge_weights(ei, tc, strength=2.0)
    assert w.shape == (ei.shape[1],) and bool((w >= 1).all()) and bool((w <= 3).all())
    with pytest.raises(ValueError, match="hops"):
        topological_concentration(ei, n, hops=0)
    with pytest.raises(ValueError, match="strength"):
        tc_edge_weights(ei, tc, strength=-1)


def test_retrieval_rerank_against_exhaustive(cora):
    x, ei, n, _ = cora
    torch.manual_seed(0)
    model = NCN(x.shape[1], 32).eval()  # untrained: the test checks the plumbing, not quality
    rr = CandidateReranker(model, num_candidates=n, ef=n).fit(x.to_sparse(), ei, n)
    q = torch.tensor([0, 7, 500])
    s_all, i_all = exhaustive_top_k(model, rr.h, rr.graph, q, k=20)
    s_rr, i_rr = rr.recommend(q, k=20)  # all nodes as candidates: same top-20 as exhaustive
    torch.testing.assert_close(s_rr, s_all)
    g = link_graph(ei, n)
    for r, v in enumerate(q.tolist()):
        assert v not in i_rr[r].tolist()
        assert not set(i_rr[r].tolist()) & set(g.neighbors(v).tolist())
    miss = next(t for t in range(n) if t not in set(i_all[1].tolist()))
    held_out = torch.tensor([[0, int(i_all[2, 5]), 7], [int(i_all[0, 0]), 500, miss]])
    rows = {0: 0, 7: 1, 500: 2}
    want = [t in i_all[rows[s]].tolist() for a, b in held_out.T.tolist() for s, t in ((a, b), (b, a)) if s in rows]
    assert recall_at_k(i_all, q, held_out) == pytest.approx(np.mean(want))
    assert recall_at_k(i_all, q, torch.tensor([[0], [int(i_all[0, 3])]])) == 1.0
    small = CandidateReranker(model, num_candidates=10).fit(x.to_sparse(), ei, n, h=rr.h)
    assert small.candidates(q).shape == (3, 10)
    with pytest.raises(ValueError, match="queries"):
        small.recommend(torch.tensor([n]))
    with pytest.raises(ValueError, match="num_candidates"):
        CandidateReranker(model, num_candidates=0)


def test_retrieval_sources(cora):
    from graphkit.linkpred import two_hop_candidates

    x, ei, n, _ = cora
    torch.manual_seed(0)
    model = NCN(x.shape[1], 32).eval()
    q = torch.tensor([0, 7, 500, 1358])
    two = CandidateReranker(model, num_candidates=30, source="two_hop").fit(x.to_sparse(), ei, n)
    assert two.index is None  # no index for two-hop candidates
    want = two_hop_candidates(two.graph, q, 30)[1]
    assert torch.equal(two.candidates(q), want)
    hnsw = CandidateReranker(model, num_candidates=30, source="hnsw").fit(x.to_sparse(), ei, n, h=two.h)
    mixed = CandidateReranker(model, num_candidates=30, source="mixed", two_hop_share=0.5).fit(
        x.to_sparse(), ei, n, h=two.h)
    c_h, c_m = hnsw.candidates(q), mixed.candidates(q)
    g = link_graph(ei, n)
    for r, v in enumerate(q.tolist()):
        row = [t for t in c_m[r].tolist() if t >= 0]
        assert len(row) == len(set(row))  # no repeats where the two sources overlap
        assert v not in row and not set(row) & set(g.neighbors(v).tolist())
        first = [t for t in want[r, :15].tolist() if t >= 0]
        assert row[:len(first)] == first  # the two-hop half first, in heuristic order
        rest = [t for t in c_h[r].tolist() if t >= 0 and t not in set(first)]
        assert row[len(first):] == rest[:30 - len(first)]  # then HNSW hits not already taken
    scores, ids = mixed.recommend(q, k=10)
    assert ids.shape == (4, 10) and bool((scores[:, :-1] >= scores[:, 1:]).all())
    with pytest.raises(ValueError, match="source"):
        CandidateReranker(model, source="bfs")
    with pytest.raises(ValueError, match="two_hop_share"):
        CandidateReranker(model, two_hop_share=1.5)
    with pytest.raises(ValueError, match="fit"):
        CandidateReranker(model).candidates(q)
