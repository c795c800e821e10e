"""RegionProposalPool pieces against slow references: k-hop regions vs networkx on a PDB
contact graph, SupCon / InfoNCE vs loops, graph perturbation."""

import math

import networkx as nx
import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from torch_geometric.data import Batch, Data  # noqa: E402

from graphkit.datasets import load_pdb  # noqa: E402
from graphkit.pool import (  # noqa: E402
    RegionProposalPool, ca_secondary_structure, info_nce_loss, perturb_graph, supcon_loss)
from graphkit.pool.region_proposal import k_hop_region  # noqa: E402


@pytest.fixture(scope="module")
def chain():
    return load_pdb("1S3P-A", threshold=8.0)


def test_k_hop_region_matches_networkx(chain):
    ei = torch.from_numpy(chain["edge_index"])
    n = chain["num_nodes"]
    G = nx.Graph()
    G.add_nodes_from(range(n))
    G.add_edges_from(chain["edge_index"].T.tolist())
    seeds = torch.tensor([3, 40, 90])
    vals = torch.tensor([0.2, 0.9, 0.5])
    for hops in (1, 2, 3):
        member, value = k_hop_region(seeds, vals, ei, n, hops)
        ref_m, ref_v = np.zeros(n, bool), np.zeros(n)
        for s, v in zip(seeds.tolist(), vals.tolist()):
            for u in nx.single_source_shortest_path_length(G, s, cutoff=hops):
                ref_m[u] = True
                ref_v[u] = max(ref_v[u], v)
        np.testing.assert_array_equal(member.numpy(), ref_m)
        np.testing.assert_allclose(value.numpy(), ref_v, rtol=1e-6)


def _supcon_loop(z, y, t):
    z, y = z.double().numpy(), y.numpy()
    losses = []
    for i in range(len(z)):
        pos = [p for p in range(len(z)) if p != i and y[p] == y[i]]
        if not pos:
            continue
        den = sum(math.exp(z[i] @ z[a] / t) for a in range(len(z)) if a != i)
        losses.append(-np.mean([math.log(math.exp(z[i] @ z[p] / t) / den) for p in pos]))
    return float(np.mean(losses))


def test_contrastive_losses_match_loops():
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(12, 5, generator=g), dim=1)
    y = torch.tensor([0, 1, 2, 0, 1, 0, 3, 1, 0, 2, 1, 0])     # label 3 has no positive
    assert supcon_loss(z, y, 0.5).item() == pytest.approx(_supcon_loop(z, y, 0.5), rel=1e-5)
    z1, z2 = z[:6], z[6:]
    ref = 0.0
    for a, b in ((z1, z2), (z2, z1)):
        for i in range(6):
            logits = [float(a[i] @ b[j]) / 0.2 for j in range(6)]
            ref += -(logits[i] - math.log(sum(math.exp(v) for v in logits))) / 12
    assert info_nce_loss(z1, z2, 0.2).item() == pytest.approx(ref, rel=1e-5)
    assert supcon_loss(z[:2], torch.tensor([0, 1])).item() == 0.0


def test_perturb_graph_drops_edges_and_adds_noise(chain):
    d = Data(x=torch.randn(chain["num_nodes"], 4), edge_index=torch.from_numpy(chain["edge_index"]))
    p = perturb_graph(d, edge_drop=0.3, feature_noise=0.0, generator=torch.Generator().manual_seed(0))
    frac = p.edge_index.shape[1] / d.edge_index.shape[1]
    assert 0.6 < frac < 0.8 and torch.equal(p.x, d.x)
    kept = set(map(tuple, p.edge_index.t().tolist()))
    assert kept <= set(map(tuple, d.edge_index.t().tolist()))
    q = perturb_graph(d, edge_drop=0.0, feature_noise=0.5, generator=torch.Generator().manual_seed(0))
    assert q.edge_index.shape == d.edge_index.shape and not torch.equal(q.x, d.x)
    with pytest.raises(ValueError, match="edge_drop"):
        perturb_graph(d, edge_drop=1.0)


def test_pool_on_protein_contact_graphs(chain):
    """P-SEA secondary-structure labels and C-alpha positions with NaN rows (2W83-E has
    unresolved residues) on two real chains."""
    datas = []
    for name in ("1S3P-A", "2W83-E"):
        c = load_pdb(name, threshold=8.0)
        n = c["num_nodes"]
        datas.append(Data(x=torch.randn(n, 8, generator=torch.Generator().manual_seed(1)),
                          edge_index=torch.from_numpy(c["edge_index"]), pos=torch.from_numpy(c["ca_coords"]).float(),
                          structure=ca_secondary_structure(c["ca_coords"])))
    b = Batch.from_data_list(datas)
    torch.manual_seed(0)
    m = RegionProposalPool(8, 5, hops=2, num_anchors=3, ratio=0.3, heads=2, num_structure_labels=3).eval()
    out = m(b.x, b.edge_index, b.batch, structure=b.structure, pos=b.pos)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    assert m.last_anchors.numel() == 6
    counts = torch.bincount(b.batch[m.last_perm], minlength=2)
    assert counts.tolist() == [math.ceil(0.3 * d.num_nodes) for d in datas]
    with pytest.raises(ValueError, match=r"structure labels must lie in \[0, 3\)"):
        m(b.x, b.edge_index, b.batch, structure=b.structure + 1)
    with pytest.raises(ValueError, match="num_structure_labels=0"):
        RegionProposalPool(8, 5, heads=2)(b.x, b.edge_index, b.batch, structure=b.structure)
    with pytest.raises(ValueError, match=r"x must be \(N, 8\)"):
        m(b.x[:, :3], b.edge_index, b.batch)


def test_ca_secondary_structure_on_ideal_geometry_and_real_chains():
    t = torch.arange(20.0)
    a = math.radians(100.0)
    helix = torch.stack([2.3 * torch.cos(t * a), 2.3 * torch.sin(t * a), 1.5 * t], 1)   # 3.6 res/turn, 1.5 Å rise
    strand = torch.stack([3.3 * t, 0.9 * (-1) ** t, 0 * t], 1)                          # extended zig-zag
    assert ca_secondary_structure(helix).tolist() == [1] * 20
    assert ca_secondary_structure(strand).tolist() == [2] * 20
    coil = torch.cumsum(3.8 * torch.nn.functional.normalize(torch.randn(30, 3, generator=torch.Generator().manual_seed(0)), dim=1), 0)
    lab = ca_secondary_structure(torch.cat([helix, coil + helix[-1] + 40.0, strand + 200.0]))
    assert lab[:20].tolist() == [1] * 20 and lab[-18:].tolist() == [2] * 18
    c = load_pdb("2W83-E")
    lab = ca_secondary_structure(c["ca_coords"])
    assert lab.shape == (c["num_nodes"],) and (lab[~torch.from_numpy(c["resolved"])] == 0).all()
    assert set(lab.tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match=r"\(L, 3\)"):
        ca_secondary_structure(torch.zeros(4, 2))


@pytest.mark.parametrize("train", [True, False])
def test_packed_attention_equals_padded_multihead_attention(train):
    """The enrichment attention on packed rows against nn.MultiheadAttention on the padded
    dense batch (the padding masked), float64, forward and gradients: graph sizes of 64 real
    PROTEINS graphs (2 to 620 nodes, so several size groups), plus a one-node graph and
    graphs without nodes (one in the middle, two at the end)."""
    from torch_geometric.utils import to_dense_batch

    from graphkit.experiments.graph_classification import load_dataset
    from graphkit.pool.histograph import graph_groups
    from graphkit.pool.region_proposal import packed_self_attention

    sizes = [g.num_nodes for g in load_dataset("PROTEINS")[:64]] + [1, 0, 3]
    size = len(sizes) + 2
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    assert len(graph_groups(batch, size)) >= 6
    torch.manual_seed(0)
    attn = torch.nn.MultiheadAttention(16, 4, batch_first=True).double().train(train)
    h = torch.randn(batch.numel(), 16, dtype=torch.float64, requires_grad=True)
    dense, mask = to_dense_batch(h, batch, batch_size=size)
    ref = attn(dense, dense, dense, key_padding_mask=~mask, need_weights=False)[0][mask]
    got = packed_self_attention(attn, h, batch, size)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    w = torch.randn_like(ref)
    params = [h, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.weight, attn.out_proj.bias]
    g_ref = torch.autograd.grad((ref * w).sum(), params)
    g_got = torch.autograd.grad((got * w).sum(), params)
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert packed_self_attention(attn, h[:0], batch[:0], 3).shape == (0, 16)


def test_pool_refuses_unsorted_batch():
    from graphkit.pool.region_proposal import packed_self_attention

    m = RegionProposalPool(8, 5, heads=2)
    x, ei = torch.randn(4, 8), torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    with pytest.raises(ValueError, match="batch must be sorted"):
        m(x, ei, torch.tensor([0, 1, 0, 1]))
    attn = torch.nn.MultiheadAttention(8, 2, add_bias_kv=True)
    with pytest.raises(ValueError, match="bias_k"):
        packed_self_attention(attn, x, torch.zeros(4, dtype=torch.long), 1)


@pytest.mark.parametrize("train", [True, False])
def test_packed_gmt_equals_pyg_gmt(train):
    """GMT on packed rows against PyG's GraphMultisetTransformer itself (its dense padded
    path), float64, forward and the gradients of the input and every GMT parameter, on the
    graph sizes of 64 real PROTEINS graphs and a one-node graph."""
    from torch_geometric.nn.aggr import GraphMultisetTransformer

    from graphkit.experiments.graph_classification import load_dataset
    from graphkit.pool.region_proposal import packed_gmt

    sizes = [g.num_nodes for g in load_dataset("PROTEINS")[:64]] + [1]
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    torch.manual_seed(0)
    gmt = GraphMultisetTransformer(16, k=8, heads=4, layer_norm=True).double().train(train)
    h = torch.randn(batch.numel(), 16, dtype=torch.float64, requires_grad=True)
    ref, got = gmt(h, batch, dim_size=len(sizes)), packed_gmt(gmt, h, batch, len(sizes))
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    w = torch.randn_like(ref)
    params = [h, *gmt.parameters()]
    for a, b in zip(torch.autograd.grad((got * w).sum(), params), torch.autograd.grad((ref * w).sum(), params)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # a graph without nodes (the last): PyG gives NaN there, we give a finite vector
    ref, got = gmt(h, batch, dim_size=len(sizes) + 1), packed_gmt(gmt, h, batch, len(sizes) + 1)
    torch.testing.assert_close(got[:-1], ref[:-1], rtol=1e-10, atol=1e-12)
    assert torch.isfinite(got[-1]).all()
