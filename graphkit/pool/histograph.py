"""HISTOGRAPH readout: attention over every node's activation history, then over nodes.

A stack of L message-passing layers produces, for every node v, a history
``h_v^(0), ..., h_v^(L)`` (the input embedding and each layer's output). Standard readouts
pool only ``h_v^(L)``; HISTOGRAPH keeps the whole trajectory and reads it out in two
attention stages:

    t_v^(l) = W_in^(l) h_v^(l) + p_l                          (layer tokens + layer position)
    z_v     = LN( t_v^(L) + sum_l softmax_l( <q(t_v^(L)), k(t_v^(l))> / sqrt(d) ) v(t_v^(l)) )
                                                              (layer-wise attention, per head)
    g       = sum_{v in G} softmax_{v in G}( <s, k'(z_v)> / sqrt(d) ) v'(z_v)
                                                              (node-wise attention, per head)
    out     = W_out g

The layer-wise stage lets each node choose, from its own trajectory, the depths that carry
information (the last layer is the query, so an over-smoothed final state can still pick
an early, discriminative one); the node-wise stage is attention pooling with a learned seed
query ``s`` per head, so nodes are weighted by their refined history. Both stages are
permutation invariant over the nodes of a graph and independent across graphs of a batch.

Paper: Y. Galron, H. Sinai, H. Maron, M. Eliasof, *Learning from Historical Activations in
Graph Neural Networks*, ICLR 2026 (arXiv:2601.01123; reference code
YanivDorGalron/HISTOGRAPH). This is a re-implementation from the paper's description.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _check_history(xs) -> list[torch.Tensor]:
    if torch.is_tensor(xs):
        if xs.dim() != 3:
            raise ValueError(f"history tensor must be (N, L, F), got shape {tuple(xs.shape)}")
        return list(xs.unbind(1))
    if not isinstance(xs, Sequence) or not xs:
        raise TypeError(f"history must be a non-empty list of (N, F_l) tensors or an (N, L, F) tensor, "
                        f"got {type(xs).__name__}")
    n = xs[0].shape[0]
    for i, h in enumerate(xs):
        if not torch.is_tensor(h) or h.dim() != 2:
            raise ValueError(f"history[{i}] must be a 2-D (N, F) tensor, got "
                             f"{tuple(h.shape) if torch.is_tensor(h) else type(h).__name__}")
        if h.shape[0] != n:
            raise ValueError(f"history[{i}] has {h.shape[0]} nodes, history[0] has {n}")
    return list(xs)


def segment_softmax(scores: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Softmax of ``scores`` (N, H) within each segment of ``index`` (N,) (numerically stable)."""
    h = scores.shape[1]
    idx = index.unsqueeze(1).expand(-1, h)
    mx = torch.full((num_segments, h), -torch.inf, dtype=scores.dtype, device=scores.device)
    mx = mx.scatter_reduce(0, idx, scores, reduce="amax", include_self=True)
    e = (scores - mx[index]).exp()
    den = torch.zeros(num_segments, h, dtype=scores.dtype, device=scores.device).index_add_(0, index, e)
    return e / den[index]


class HistoGraphReadout(nn.Module):
    """HISTOGRAPH readout over the activation history of a GNN stack.

    Args:
        in_channels: feature size of every history entry (int), or one size per entry
            (sequence of ``num_layers`` ints) when the layers differ in width.
        hidden_channels: attention width d (divisible by ``heads``).
        out_channels: size of the graph vector (default ``hidden_channels``).
        num_layers: the largest history length L+1 the readout accepts (number of layer
            position embeddings); shorter histories use the first positions.
        heads: attention heads of both stages.
        dropout: dropout on the attention weights.

    Forward:
        xs: list of L+1 tensors ``(N, F_l)`` (e.g. the input embedding and each conv's
            output) or one ``(N, L+1, F)`` tensor.
        batch: ``(N,)`` graph id of every node (default: all in graph 0).
        size: number of graphs B (default ``batch.max() + 1``).

    Returns:
        ``(B, out_channels)`` graph vectors. ``layer_attention`` (N, heads, L+1) of the last
        call is kept on the module for inspection.

    Raises:
        ValueError / TypeError: malformed history, mismatched widths or too long a history.
    """

    def __init__(self, in_channels: int | Sequence[int], hidden_channels: int = 64, out_channels: int | None = None,
                 num_layers: int = 64, heads: int = 4, dropout: float = 0.0):
        super().__init__()
        if hidden_channels % heads:
            raise ValueError(f"hidden_channels ({hidden_channels}) must be divisible by heads ({heads})")
        if isinstance(in_channels, int):
            self.in_channels: int | tuple[int, ...] = in_channels
            self.proj = nn.ModuleList([nn.Linear(in_channels, hidden_channels)])
        else:
            self.in_channels = tuple(int(c) for c in in_channels)
            num_layers = len(self.in_channels)
            self.proj = nn.ModuleList([nn.Linear(c, hidden_channels) for c in self.in_channels])
        self.hidden_channels, self.heads, self.num_layers = hidden_channels, heads, num_layers
        self.out_channels = out_channels or hidden_channels
        d = hidden_channels
        self.layer_pos = nn.Parameter(torch.empty(num_layers, d))
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d)
        self.seed = nn.Parameter(torch.empty(heads, d // heads))
        self.k2, self.v2 = nn.Linear(d, d), nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.out = nn.Linear(d, self.out_channels)
        self.dropout = nn.Dropout(dropout)
        self.layer_attention: torch.Tensor | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)) and m is not self:
                m.reset_parameters()
        nn.init.normal_(self.layer_pos, std=0.02)
        nn.init.normal_(self.seed, std=1.0 / math.sqrt(self.hidden_channels // self.heads))

    def _tokens(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if len(xs) > self.num_layers:
            raise ValueError(f"history has {len(xs)} entries, the readout was built for at most {self.num_layers}")
        if isinstance(self.in_channels, tuple):
            if len(xs) != len(self.in_channels):
                raise ValueError(f"history has {len(xs)} entries, in_channels lists {len(self.in_channels)}")
            widths = self.in_channels
        else:
            widths = (self.in_channels,) * len(xs)
        for i, (h, c) in enumerate(zip(xs, widths)):
            if h.shape[1] != c:
                raise ValueError(f"history[{i}] has {h.shape[1]} features, expected {c}")
        projs = self.proj if isinstance(self.in_channels, tuple) else [self.proj[0]] * len(xs)
        return torch.stack([p(h) for p, h in zip(projs, xs)], dim=1) + self.layer_pos[: len(xs)]

    def forward(self, xs, batch: torch.Tensor | None = None, size: int | None = None) -> torch.Tensor:
        xs = _check_history(xs)
        n = xs[0].shape[0]
        if batch is None:
            batch = torch.zeros(n, dtype=torch.long, device=xs[0].device)
        elif batch.shape != (n,):
            raise ValueError(f"batch must have shape ({n},), got {tuple(batch.shape)}")
        if size is None:
            size = int(batch.max()) + 1 if n else 0
        t = self._tokens(xs)                                    # (N, L, d)
        N, L, d = t.shape
        H, dh = self.heads, d // self.heads
        # stage 1: layer-wise attention, the node's last state is the query
        q = self.q(t[:, -1]).view(N, H, 1, dh)
        k = self.k(t).view(N, L, H, dh).transpose(1, 2)          # (N, H, L, dh)
        v = self.v(t).view(N, L, H, dh).transpose(1, 2)
        att = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(dh), dim=-1)   # (N, H, 1, L)
        self.layer_attention = att.squeeze(2).detach()
        z = (self.dropout(att) @ v).reshape(N, d)
        z = self.norm1(t[:, -1] + z)
        # stage 2: node-wise attention pooling with a learned seed per head
        k2 = self.k2(z).view(N, H, dh)
        score = (k2 * self.seed).sum(-1) / math.sqrt(dh)         # (N, H)
        alpha = self.dropout(segment_softmax(score, batch, size))
        v2 = self.v2(z).view(N, H, dh) * alpha.unsqueeze(-1)
        g = torch.zeros(size, H, dh, dtype=z.dtype, device=z.device).index_add_(0, batch, v2).reshape(size, d)
        return self.out(self.norm2(g))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, hidden={self.hidden_channels}, "
                f"out={self.out_channels}, heads={self.heads})")
