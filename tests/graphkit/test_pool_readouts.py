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


# the layers that read edge_index (histograph and token_graph do not: the node history, a
# token-similarity graph)
READ_EDGES = {"rpn", "hyperdrop"}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_bad_inputs_raise_clear_errors(name, graphs):
    """NaN, integer or another dtype than the layer's in x, edges out of range or of float
    dtype, a batch vector of the wrong length: a ValueError / TypeError that names the input,
    not torch's error from deep inside (or NaN out). A batch with no nodes pools to no rows;
    a float64 batch runs once the layer is float64 too."""
    m, run = LAYERS[name]()
    m.eval()
    b = Batch.from_data_list(graphs)
    x = b.x

    def with_(**kw):
        c = b.clone()
        for k, v in kw.items():
            setattr(c, k, v)
        return c

    bad = x.clone()
    bad[7, 3] = float("nan")
    bad[20, 0] = float("inf")
    which = r"history\[0\]" if name == "histograph" else "x"
    with pytest.raises(ValueError, match=rf"{which} holds NaN or infinite values \(rows \[7, 20\]\)"):
        run(with_(x=bad))
    with pytest.raises(TypeError, match=rf"{which} must hold floats, got torch.int64"):
        run(with_(x=x.long()))
    with pytest.raises(TypeError, match=rf"{which} is torch.float64 but the layer's parameters are torch.float32"):
        run(with_(x=x.double()))
    with pytest.raises(ValueError, match=rf"batch must have shape \({x.shape[0]},\), got \(5,\)"):
        run(with_(batch=b.batch[:5]))
    with pytest.raises(TypeError, match="batch must hold integer graph ids"):
        run(with_(batch=b.batch.float()))
    if name in READ_EDGES:
        out_of_range = b.edge_index.clone()
        out_of_range[1, 3] = x.shape[0]
        with pytest.raises(ValueError, match=rf"edge_index refers to node {x.shape[0]}, but num_nodes is {x.shape[0]}"):
            run(with_(edge_index=out_of_range))
        with pytest.raises(TypeError, match="edge_index must hold integers, got dtype torch.float32"):
            run(with_(edge_index=b.edge_index.float()))
    # no nodes at all: no graphs, no rows (rpn's GMT readout failed here)
    empty = Batch.from_data_list(graphs[:1])
    empty.x, empty.structure, empty.pos = x[:0], empty.structure[:0], empty.pos[:0]
    empty.edge_index, empty.edge_attr = b.edge_index[:, :0], b.edge_attr[:0]
    empty.batch = b.batch[:0]
    empty._num_graphs = 0
    assert run(empty).shape[0] == 0
    # float64 in a float64 layer: the same figures as in float32
    m.double()
    c = with_(x=x.double(), pos=b.pos.double(), edge_attr=b.edge_attr.double())
    m2, run32 = LAYERS[name]()
    m2.eval()
    torch.testing.assert_close(run(c).float(), run32(b), atol=1e-4, rtol=1e-4)


def test_finite_values_whose_sum_overflows_pass_the_nan_check():
    """check_values tests the sum first (fast) and only then every value: float32 values near
    their maximum sum to inf, yet none of them is bad."""
    from graphkit.pool._checks import check_values

    layer = torch.nn.Linear(2, 2)
    check_values(torch.full((4, 2), 3e38), layer)
    big = torch.full((4, 2), 3e38)
    big[2, 1] = float("-inf")
    with pytest.raises(ValueError, match=r"x holds NaN or infinite values \(rows \[2\]\)"):
        check_values(big, layer)
