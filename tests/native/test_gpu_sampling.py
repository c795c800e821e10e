"""GPUNeighborSampler against a slow per-node check on Cora; Floyd sampling is uniform; the loader
feeds a GraphSAGE model with FeatureStore rows."""

import numpy as np
import pytest
import torch

from graphkit.datasets import load_planetoid
from native.csr import CSRGraph
from native.features import FeatureStore, log_degree_score
from native.gpu_sampling import GPUNeighborLoader, GPUNeighborSampler, floyd_sample


@pytest.fixture(scope="module")
def cora():
    d = load_planetoid("cora")
    return d, CSRGraph.from_edge_index(d.edge_index, num_nodes=d.num_nodes)


def check_batch(batch, ei, graph, seeds, fanouts):
    """Every claim of the module docstring, one node / edge at a time in Python."""
    n_id = batch.n_id.tolist()
    assert len(set(n_id)) == len(n_id) and n_id[: len(seeds)] == list(seeds)
    assert sum(batch.num_sampled_nodes) == len(n_id)
    assert sum(batch.num_sampled_edges) == batch.edge_index.shape[1] == batch.e_id.numel()
    src, dst, eid = batch.edge_index[0].tolist(), batch.edge_index[1].tolist(), batch.e_id.tolist()
    deg = graph.degree()
    e0, lo = 0, 0
    seen = set(n_id[: len(seeds)])
    for h, k in enumerate(fanouts):
        width = batch.num_sampled_nodes[h]
        hop_edges = range(e0, e0 + batch.num_sampled_edges[h])
        per_node = {}
        for t in hop_edges:
            assert lo <= dst[t] < lo + width  # expanded nodes are exactly the previous hop's new nodes
            u, v = n_id[dst[t]], n_id[src[t]]
            assert (ei[0, eid[t]], ei[1, eid[t]]) == (u, v)  # a real edge u -> v, with its id
            per_node.setdefault(dst[t], []).append(eid[t])
        for j in range(lo, lo + width):
            got = per_node.get(j, [])
            assert len(set(got)) == len(got)  # no replacement
            want = deg[n_id[j]] if k < 0 else min(k, deg[n_id[j]])
            assert len(got) == want, (h, j)
        new = n_id[lo + width: lo + width + batch.num_sampled_nodes[h + 1]]
        reached = [n_id[src[t]] for t in hop_edges]
        firsts = [v for i, v in enumerate(reached) if v not in seen and v not in reached[:i]]
        assert new == firsts  # new nodes in order of first appearance
        seen.update(new)
        e0 += batch.num_sampled_edges[h]
        lo += width


@pytest.mark.parametrize("fanouts", [[5, 3], [10, -1], [2, 2, 2]])
def test_sampler_matches_reference_on_cora(cora, fanouts):
    d, g = cora
    sampler = GPUNeighborSampler(g, fanouts, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        seeds = rng.choice(d.num_nodes, 40, replace=False)
        check_batch(sampler.sample(torch.from_numpy(seeds)), d.edge_index, g, seeds.tolist(), fanouts)
    # the same seed gives the same batch
    a = GPUNeighborSampler(g, fanouts, seed=7).sample(seeds)
    b = GPUNeighborSampler(g, fanouts, seed=7).sample(seeds)
    assert torch.equal(a.n_id, b.n_id) and torch.equal(a.edge_index, b.edge_index)


def test_floyd_is_uniform():
    deg = torch.full((20000,), 20, dtype=torch.int64)
    off = floyd_sample(deg, 5, torch.Generator().manual_seed(1))
    assert off.min() >= 0 and off.max() < 20
    srt = off.sort(1).values
    assert (srt[:, 1:] != srt[:, :-1]).all()  # distinct within a row
    counts = torch.bincount(off.flatten(), minlength=20).double()
    expect = 20000 * 5 / 20  # each offset in a row with probability 1/4
    sd = (20000 * 0.25 * 0.75) ** 0.5
    assert (counts - expect).abs().max() < 5 * sd
    # pairs too: P(0 and 1 both taken) = C(18,3)/C(20,5) = 5*4/(20*19)
    both = ((off == 0).any(1) & (off == 1).any(1)).double().mean()
    assert abs(float(both) - 20 / 380) < 0.01


def test_validation(cora):
    d, g = cora
    with pytest.raises(ValueError, match="fanouts entries"):
        GPUNeighborSampler(g, [5, -2])
    with pytest.raises(ValueError, match="at least one hop"):
        GPUNeighborSampler(g, [])
    with pytest.raises(TypeError, match="CSRGraph"):
        GPUNeighborSampler(d.edge_index, [5])
    s = GPUNeighborSampler(g, [5])
    with pytest.raises(ValueError, match="distinct"):
        s.sample([1, 1])
    with pytest.raises(ValueError, match=r"\[0, 2708\), found 2708"):
        s.sample([2708])
    with pytest.raises(TypeError, match="integers"):
        s.sample(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="store has 10 rows"):
        GPUNeighborLoader(s, FeatureStore(np.zeros((10, 2), np.float32)))


def test_loader_trains_graphsage_with_cached_store(cora):
    from torch_geometric.nn import GraphSAGE

    d, g = cora
    torch.manual_seed(0)
    store = FeatureStore(d.x, cache_rows=800, static_score=log_degree_score(g.degree()), victim_rows=200)
    sampler = GPUNeighborSampler(g, [10, 5], seed=0)
    train = np.flatnonzero(d.train_mask | d.val_mask)
    loader = GPUNeighborLoader(sampler, store, input_nodes=train, batch_size=64, labels=torch.from_numpy(d.y))
    model = GraphSAGE(d.x.shape[1], 64, num_layers=2, out_channels=d.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for epoch in range(3):
        total = 0.0
        for batch in loader:
            assert torch.equal(batch.x, torch.from_numpy(d.x)[batch.n_id])
            assert torch.equal(batch.y, torch.from_numpy(d.y)[batch.n_id])
            opt.zero_grad()
            out = model(batch.x, batch.edge_index)[: batch.batch_size]
            loss = torch.nn.functional.cross_entropy(out, batch.y[: batch.batch_size])
            loss.backward()
            opt.step()
            total += float(loss.detach())
        losses.append(total / len(loader))
    assert losses[-1] < 0.5 * losses[0]
    assert store.stats.hit_rate > 0.2 and store.stats.prefetch_hits > 0
    # test accuracy with full-neighbourhood sampling of the test nodes
    model.eval()
    test = np.flatnonzero(d.test_mask)
    full = GPUNeighborLoader(GPUNeighborSampler(g, [-1, -1]), store, input_nodes=test, batch_size=500,
                             labels=torch.from_numpy(d.y), shuffle=False)
    correct = 0
    with torch.no_grad():
        for batch in full:
            pred = model(batch.x, batch.edge_index)[: batch.batch_size].argmax(1)
            correct += int((pred == batch.y[: batch.batch_size]).sum())
    assert correct / len(test) > 0.7
    store.close()


@pytest.mark.gpu
def test_cuda_sampler(cora):
    d, g = cora
    sampler = GPUNeighborSampler(g.to("cuda"), [5, 3], seed=0)
    seeds = np.random.default_rng(0).choice(d.num_nodes, 200, replace=False)
    batch = sampler.sample(torch.from_numpy(seeds).cuda())
    assert batch.n_id.is_cuda
    cpu = type(batch)(*(t.cpu() if torch.is_tensor(t) else t for t in (
        batch.n_id, batch.edge_index, batch.e_id, batch.batch_size, batch.num_sampled_nodes, batch.num_sampled_edges)))
    check_batch(cpu, d.edge_index, g, seeds.tolist(), [5, 3])
