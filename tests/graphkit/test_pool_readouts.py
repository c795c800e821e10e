"""Invariants shared by every graphkit.pool layer, on real MUTAG graphs: permutation
invariance, batch-vs-single equivalence, gradients reaching every parameter."""

import pytest
import torch

pytest.importorskip("torch_geometric")

from torch_geometric.data import Batch  # noqa: E402

from graphkit.datasets import load_tu  # noqa: E402
from graphkit.pool import HistoGraphReadout, HyperDrop, RegionProposalPool, TokenGraphPool  # noqa: E402

F_IN = 16


@pytest.fixture(scope="module")
def graphs():
    """Five MUTAG graphs with continuous features (one-hot atom type @ random + noise: no ties)."""
    g = torch.Generator().manual_seed(0)
    proj = torch.randn(7, F_IN, generator=g)
    out = []
    for d in load_tu("MUTAG")[:5]:
        d = d.clone()
        d.structure = d.x.argmax(1)                       # atom type as the structural label
        d.pos = 5.0 * torch.randn(d.num_nodes, 3, generator=g)
        d.x = d.x @ proj + 0.1 * torch.randn(d.num_nodes, F_IN, generator=g)
        d.edge_attr = d.edge_attr + 0.1 * torch.rand(d.edge_attr.shape, generator=g)
        out.append(d)
    return out


def _history(x):
    """A fixed 3-step 'GNN history' of x (node-wise, so permutation-equivariant)."""
    return [x, torch.tanh(x), torch.sin(x)]


def _histograph():
    torch.manual_seed(0)
    m = HistoGraphReadout(F_IN, 16, 3, num_layers=3, heads=2)
    return m, lambda b: m(_history(b.x), b.batch, b.num_graphs)


def _rpn():
    torch.manual_seed(0)
    m = RegionProposalPool(F_IN, 3, hops=2, num_anchors=2, ratio=0.5, heads=2, num_structure_labels=7, gmt_seeds=4)
    return m, lambda b: m(b.x, b.edge_index, b.batch, size=b.num_graphs, structure=b.structure, pos=b.pos)


def _token(gat="auto"):
    torch.manual_seed(0)
    m = TokenGraphPool(F_IN, 16, 3, threshold=0.3, gat=gat)
    return m, lambda b: m(b.x, b.batch, size=b.num_graphs)


def _hyperdrop():
    """HyperDrop as a readout: mean of kept edge features per graph (+ node mean)."""
    from torch_geometric.nn import global_mean_pool

    torch.manual_seed(0)
    m = HyperDrop(F_IN, 4, 8, ratio=0.5)

    def run(b):
        x, ei, ea, batch, _, _ = m(b.x, b.edge_index, b.edge_attr, b.batch)
        return torch.cat([global_mean_pool(ea, batch[ei[0]], b.num_graphs), global_mean_pool(x, batch, b.num_graphs)], 1)
    return m, run


# "token_graph" runs its GAT on the edge list here ("auto": these graphs are small), and
# "token_graph_dense" the same layer as a masked attention over padded groups
LAYERS = {"histograph": _histograph, "rpn": _rpn, "token_graph": _token,
          "token_graph_dense": lambda: _token("dense"), "hyperdrop": _hyperdrop}


def _permute(d, gen):
    p = torch.randperm(d.num_nodes, generator=gen)
    inv = torch.empty_like(p)
    inv[p] = torch.arange(d.num_nodes)
    e = d.clone()
    e.x, e.structure, e.pos = d.x[p], d.structure[p], d.pos[p]
    e.edge_index = inv[d.edge_index]
    q = torch.randperm(d.edge_index.shape[1], generator=gen)
    e.edge_index, e.edge_attr = e.edge_index[:, q], d.edge_attr[q]
    return e


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_permutation_invariant(name, graphs):
    m, run = LAYERS[name]()
    m.eval()
    gen = torch.Generator().manual_seed(1)
    a = run(Batch.from_data_list(graphs))
    b = run(Batch.from_data_list([_permute(d, gen) for d in graphs]))
    assert a.shape[0] == len(graphs)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_batch_equals_single(name, graphs):
    m, run = LAYERS[name]()
    m.eval()
    batched = run(Batch.from_data_list(graphs))
    single = torch.cat([run(Batch.from_data_list([d])) for d in graphs])
    torch.testing.assert_close(batched, single, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradients_reach_every_parameter(name, graphs):
    m, run = LAYERS[name]()
    m.train()
    out = run(Batch.from_data_list(graphs))
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(2))).sum().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, f"no gradient reaches {missing}"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_cuda_matches_cpu(name, graphs):
    m, run = LAYERS[name]()
    m.eval()
    b = Batch.from_data_list(graphs)
    cpu = run(b)
    m.to("cuda")
    gpu = run(b.to("cuda"))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-3, rtol=1e-3)
