"""Node encoders (MPNNs) for link prediction: the GCN that NCN / NCNC put in front of their
pair representation, and the GCN / GraphSAGE baselines.

All take ``x`` (N, F) dense or torch sparse, ``edge_index`` (2, E) with both directions of
every undirected edge, optional ``edge_weight`` (E,), and return (N, H).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphkit._checks import check_edge_index


def gcn_adjacency(edge_index: torch.Tensor, num_nodes: int, edge_weight: torch.Tensor | None = None) -> torch.Tensor:
    """The GCN propagation matrix D^-1/2 (A + I) D^-1/2 as a torch sparse COO (N, N) tensor.

    ``A[t, s]`` is the weight of edge s -> t (1 without weights; PyG's convention: messages
    flow from ``edge_index[0]`` to ``edge_index[1]``), D the row sums of A + I. Existing
    self-loops are replaced by the added ones, as in PyG's ``gcn_norm``.

    Args:
        edge_index: (2, E) integer tensor. num_nodes: N. edge_weight: (E,) or None.

    Returns:
        (N, N) sparse COO float32 tensor on edge_index's device.

    Paper: T. N. Kipf, M. Welling, "Semi-Supervised Classification with Graph Convolutional
    Networks", ICLR 2017.
    """
    check_edge_index(edge_index, num_nodes)
    dev = edge_index.device
    keep = edge_index[0] != edge_index[1]
    src, dst = edge_index[0, keep], edge_index[1, keep]
    w = torch.ones(src.numel(), device=dev) if edge_weight is None else edge_weight[keep].float()
    loop = torch.arange(num_nodes, device=dev)
    src, dst = torch.cat([src, loop]), torch.cat([dst, loop])
    w = torch.cat([w, torch.ones(num_nodes, device=dev)])
    deg = torch.zeros(num_nodes, device=dev).index_add_(0, dst, w)
    dinv = deg.pow(-0.5).masked_fill_(deg == 0, 0.0)
    vals = dinv[dst] * w * dinv[src]
    # ids checked by the callers (check_edge_index): torch's own pass is not needed (and warns in torch 2.13)
    return torch.sparse_coo_tensor(torch.stack([dst, src]), vals, (num_nodes, num_nodes),
                                   check_invariants=False).coalesce()


def _dropout_any(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout for dense or sparse COO x (on the stored values)."""
    if p <= 0 or not training:
        return x
    if x.is_sparse:
        x = x.coalesce()
        return torch.sparse_coo_tensor(x.indices(), F.dropout(x.values(), p, True), x.shape, is_coalesced=True,
                                       check_invariants=False)
    return F.dropout(x, p, True)


def _linear_any(lin: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if x.is_sparse:
        return torch.sparse.mm(x, lin.weight.t()) + lin.bias
    return lin(x)


class GCN(nn.Module):
    """The MPNN of NCN / NCNC: an input layer, then parameter-free GCN propagations.

    h0 = Dropout(Linear(Dropout_in(x))); h_l = Ahat h_{l-1} (l = 1..L), Ahat = D^-1/2 (A+I) D^-1/2,
    then Dropout_tail(h_L); output sum_l a_l h_l with learned jumping-knowledge weights a
    (``jk``) or h_L.

    Args:
        in_channels: F. hidden_channels: H. num_layers: L >= 1 propagations.
        dropout: after the input layer. input_dropout: on x. tail_dropout: on the last
            propagation's output (the reference code's ``tdp``).

    Shapes: x (N, F) dense or sparse COO, edge_index (2, E), edge_weight (E,) -> (N, H).

    Paper: the "puregcn" MPNN of X. Wang, H. Yang, M. Zhang, "Neural Common Neighbor with
    Completion for Link Prediction", ICLR 2024 (GCN: Kipf & Welling, ICLR 2017).
    """

    def __init__(self, in_channels: int, hidden_channels: int = 256, num_layers: int = 1,
                 dropout: float = 0.05, input_dropout: float = 0.7, jk: bool = True, tail_dropout: float = 0.0):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("hidden_channels", hidden_channels), ("num_layers", num_layers)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.lin = nn.Linear(in_channels, hidden_channels)
        self.num_layers = num_layers
        self.dropout, self.input_dropout, self.jk, self.tail_dropout = dropout, input_dropout, jk, tail_dropout
        self.jk_weights = nn.Parameter(torch.ones(num_layers))
        self.reset_parameters()

    def reset_parameters(self):
        self.lin.reset_parameters()
        with torch.no_grad():
            self.jk_weights.fill_(1.0)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None,
                adj: torch.Tensor | None = None) -> torch.Tensor:
        """(N, H) node embeddings; ``adj`` (from :func:`gcn_adjacency`) skips rebuilding Ahat."""
        if x.dim() != 2 or x.shape[1] != self.lin.in_features:
            raise ValueError(f"x must have shape (N, {self.lin.in_features}), got {tuple(x.shape)}")
        if adj is None:
            adj = gcn_adjacency(edge_index, x.shape[0], edge_weight)
        h = _linear_any(self.lin, _dropout_any(x, self.input_dropout, self.training))
        h = F.dropout(h, self.dropout, self.training)
        outs = []
        for layer in range(self.num_layers):
            h = torch.sparse.mm(adj, h)
            if layer == self.num_layers - 1:
                h = F.dropout(h, self.tail_dropout, self.training)
            outs.append(h)
        if not self.jk:
            return h
        return sum(w * o for w, o in zip(self.jk_weights, outs))


class MPNNEncoder(nn.Module):
    """Baseline encoder: ``num_layers`` GCNConv or SAGEConv layers (PyG), ReLU and dropout between.

    Args:
        in_channels: F. hidden_channels: H. num_layers: >= 1. kind: 'gcn' or 'sage'.
        dropout: between layers.

    Shapes: x (N, F), edge_index (2, E) -> (N, H).
    """

    def __init__(self, in_channels: int, hidden_channels: int = 256, num_layers: int = 2,
                 kind: str = "gcn", dropout: float = 0.5):
        super().__init__()
        from torch_geometric.nn import GCNConv, SAGEConv

        if kind not in ("gcn", "sage"):
            raise ValueError(f"kind must be 'gcn' or 'sage', got {kind!r}")
        conv = GCNConv if kind == "gcn" else SAGEConv
        dims = [in_channels] + [hidden_channels] * num_layers
        self.convs = nn.ModuleList(conv(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = dropout

    def reset_parameters(self):
        for c in self.convs:
            c.reset_parameters()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None,
                adj: torch.Tensor | None = None) -> torch.Tensor:
        if x.is_sparse:
            x = x.to_dense()
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index) if edge_weight is None or not hasattr(conv, "cached") else conv(x, edge_index, edge_weight)
            if i < len(self.convs) - 1:
                x = F.dropout(F.relu(x), self.dropout, self.training)
        return x
