"""HISTOGRAPH readout: a layer-wise filter over every node's activation history, then
self-attention over the nodes.

A stack of L message-passing layers produces, for every node v, a history
``h_v^(0), ..., h_v^(L)`` (the input embedding and each layer's output). Standard readouts
pool only ``h_v^(L)``; HISTOGRAPH keeps the whole trajectory and reads it out in two
stages (the paper's Algorithm 1):

    x~_v^(l) = W^(l) h_v^(l) + P_l                 (per-layer projection + sinusoidal layer code)
    s_v^(l)  = <W_Q x~_v^(L), W_K x~_v^(l)> / sqrt(d)     (the last layer queries every layer)
    c_l      = mean_{v in G} s_v^(l)               (one score per layer for the whole graph)
    a_l      = c_l / sum_l' c_l'                   (divide-by-sum: a signed filter summing to 1)
    H_v      = sum_l a_l x~_v^(l)                  (layer-wise stage: one filter for all nodes)
    Z        = LN( H + MHSA(H, H, H) )             (node-wise stage: self-attention among the
                                                    nodes of each graph, residual, LayerNorm)
    out      = W_out mean_{v in G} Z_v

The layer weights are shared by all nodes of a graph ("unified") and are not a softmax:
dividing the raw scores by their sum lets a layer get a negative weight, so the readout
can act as a difference filter across depths (e.g. subtract an over-smoothed state).
Values are the layer tokens themselves (no value projection). The node-wise stage is
multi-head self-attention restricted to each graph, so graphs in a batch stay independent
and everything is permutation invariant over a graph's nodes.

Paper: Y. Galron, H. Sinai, H. Maron, M. Eliasof, *Learning from Historical Activations in
Graph Neural Networks*, ICLR 2026 (arXiv:2601.01123; reference code
YanivDorGalron/HISTOGRAPH). Re-implemented from the paper's equations; the mean of the
scores is taken per graph (the paper's notation averages over the nodes of the batch, which
would make a graph's vector depend on the other graphs of its batch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from graphkit.pool._checks import check_batch, check_values


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


def sinusoidal_positions(num_positions: int, dim: int) -> torch.Tensor:
    """Transformer position codes: P[l, 2k] = sin(l / 10000^(2k/dim)), P[l, 2k+1] = cos(same)."""
    pos = torch.arange(num_positions, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    p = torch.zeros(num_positions, dim)
    p[:, 0::2] = torch.sin(pos * freq)
    p[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return p


def size_buckets(counts: list[int], slack: float = 2.0) -> list[list[int]]:
    """Groups of graph ids for padded (dense) attention: graphs sorted by size, a group closed
    when padding every member to its largest would cost more than ``slack`` times the
    group's own sum of n_g^2 (empty graphs are left out)."""
    out, cur, sq = [], [], 0
    for g in sorted((g for g, c in enumerate(counts) if c), key=counts.__getitem__):
        m = counts[g]  # ascending: the largest so far
        if cur and (len(cur) + 1) * m * m > slack * (sq + m * m):
            out.append(cur)
            cur, sq = [], 0
        cur.append(g)
        sq += m * m
    return out + ([cur] if cur else [])


def graph_groups(batch: torch.Tensor, size: int) -> list:
    """The :func:`size_buckets` groups of a sorted ``batch``, ready for padded attention: per
    group ``(g (G,), idx (G, m), valid (G, m))``, its graph ids, the rows of each graph's nodes
    padded to the group's largest (padding reads row 0) and the real positions. One device
    sync (the graph sizes); build them once for several attentions over the same rows."""
    counts = torch.bincount(batch, minlength=size)
    sizes = counts.tolist()                                           # one device sync
    ptr = torch.cumsum(counts, 0) - counts
    out = []
    for group in size_buckets(sizes):
        g = torch.tensor(group, device=batch.device)
        pos = torch.arange(sizes[group[-1]], device=batch.device)     # padded to the largest
        valid = pos < counts[g].unsqueeze(1)                          # (G, m)
        out.append((g, (ptr[g].unsqueeze(1) + pos).masked_fill(~valid, 0), valid))
    return out


def packed_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, batch: torch.Tensor, size: int,
                     dropout: float = 0.0, groups: list | None = None) -> torch.Tensor:
    """Scaled dot-product attention among the rows of each graph: ``q, k, v (N, H, d)`` ->
    ``(N, H, d)``, rows sorted by graph. Graphs of similar size are padded together
    (:func:`graph_groups`) under a key mask, so the cost stays near sum n_g^2 and no
    (pairs, heads, dim) tensor is built. ``groups``: :func:`graph_groups` of ``(batch, size)``
    when the caller has them."""
    rows, outs = [], []
    for g, idx, valid in graph_groups(batch, size) if groups is None else groups:
        qg, kg, vg = (a[idx].transpose(1, 2) for a in (q, k, v))        # (G, H, m, d)
        out = F.scaled_dot_product_attention(qg, kg, vg, attn_mask=valid[:, None, None, :], dropout_p=dropout)
        rows.append(idx[valid])
        outs.append(out.transpose(1, 2)[valid])
    z = q.new_zeros(q.shape)
    if rows:
        z = z.index_put((torch.cat(rows),), torch.cat(outs))
    return z


class HistoGraphReadout(nn.Module):
    """HISTOGRAPH readout over the activation history of a GNN stack.

    Args:
        in_channels: feature size of every history entry (int), or one size per entry
            (sequence of ``num_layers`` ints) when the layers differ in width.
        hidden_channels: token width d (divisible by ``heads``).
        out_channels: size of the graph vector (default ``hidden_channels``).
        num_layers: the largest history length L+1 the readout accepts (number of layer
            position codes); shorter histories use the first positions.
        heads: heads of the node-wise self-attention.
        dropout: dropout on the node-wise attention weights.
        eps: the divide-by-sum denominator is kept at least ``eps`` away from 0 (its sign
            kept), so a graph whose layer scores sum to ~0 gets large but finite weights.
        layer_weighting: ``"sum"`` (the paper: a_l = c_l / sum c) or ``"softmax"``
            (a_l = softmax_l c_l, the paper's "w/o division by sum" ablation). Divide-by-sum
            is unbounded: when a graph's scores nearly cancel, its weights explode (on
            ENZYMES, max |a_l| reached ~5000 in training, and accuracy fell), while softmax
            keeps them in (0, 1).

    Forward:
        xs: list of L+1 tensors ``(N, F_l)`` (e.g. the input embedding and each conv's
            output) or one ``(N, L+1, F)`` tensor.
        batch: ``(N,)`` graph id of every node (default: all in graph 0).
        size: number of graphs B (default ``batch.max() + 1``).

    Returns:
        ``(B, out_channels)`` graph vectors; a graph without nodes gets ``out(0)``.
        ``layer_attention`` (B, L+1), each graph's layer weights a_l of the last call (rows
        sum to 1; entries may be negative), is kept on the module for inspection.

    Raises:
        ValueError / TypeError: malformed history, mismatched widths or too long a history.
    """

    def __init__(self, in_channels: int | Sequence[int], hidden_channels: int = 64, out_channels: int | None = None,
                 num_layers: int = 64, heads: int = 4, dropout: float = 0.0, eps: float = 1e-6,
                 layer_weighting: str = "sum"):
        super().__init__()
        if layer_weighting not in ("sum", "softmax"):
            raise ValueError(f"layer_weighting must be 'sum' or 'softmax', got {layer_weighting!r}")
        self.layer_weighting = layer_weighting
        if hidden_channels % heads:
            raise ValueError(f"hidden_channels ({hidden_channels}) must be divisible by heads ({heads})")
        if isinstance(in_channels, int):
            self.in_channels: int | tuple[int, ...] = in_channels
            self.proj = nn.ModuleList([nn.Linear(in_channels, hidden_channels)])
        else:
            self.in_channels = tuple(int(c) for c in in_channels)
            num_layers = len(self.in_channels)
            self.proj = nn.ModuleList([nn.Linear(c, hidden_channels) for c in self.in_channels])
        self.hidden_channels, self.heads, self.num_layers, self.eps = hidden_channels, heads, num_layers, eps
        self.out_channels = out_channels or hidden_channels
        d = hidden_channels
        self.register_buffer("layer_pos", sinusoidal_positions(num_layers, d), persistent=False)
        self.q, self.k = nn.Linear(d, d), nn.Linear(d, d)
        self.q2, self.k2, self.v2, self.o2 = (nn.Linear(d, d) for _ in range(4))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, self.out_channels)
        self.dropout = nn.Dropout(dropout)
        self.layer_attention: torch.Tensor | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)) and m is not self:
                m.reset_parameters()

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

    def layer_weights(self, t: torch.Tensor, batch: torch.Tensor, size: int) -> torch.Tensor:
        """(B, L) layer weights of every graph (divide-by-sum or softmax of the mean scores)."""
        from torch_geometric.nn import global_mean_pool

        s = torch.einsum("nd,nld->nl", self.q(t[:, -1]), self.k(t)) / math.sqrt(t.shape[2])
        c = global_mean_pool(s, batch, size)                          # (B, L) mean over each graph
        if self.layer_weighting == "softmax":
            return torch.softmax(c, 1)
        den = c.sum(1, keepdim=True)
        sign = torch.where(den < 0, -1.0, 1.0).to(t.dtype)
        den = torch.where(den.abs() < self.eps, sign * self.eps, den)
        return c / den

    def node_attention(self, h: torch.Tensor, batch: torch.Tensor, size: int) -> torch.Tensor:
        """Multi-head self-attention among the nodes of each graph (nodes sorted by graph),
        through :func:`packed_attention`."""
        n, d = h.shape
        H, dh = self.heads, d // self.heads
        q, k, v = self.q2(h).view(n, H, dh), self.k2(h).view(n, H, dh), self.v2(h).view(n, H, dh)
        z = packed_attention(q, k, v, batch, size, self.dropout.p if self.training else 0.0)
        return self.o2(z.reshape(n, d))

    def forward(self, xs, batch: torch.Tensor | None = None, size: int | None = None) -> torch.Tensor:
        xs = _check_history(xs)
        for i, h in enumerate(xs):
            check_values(h, self, f"history[{i}]")
        n = xs[0].shape[0]
        check_batch(batch, n)
        if batch is None:
            batch = torch.zeros(n, dtype=torch.long, device=xs[0].device)
        if size is None:
            size = int(batch.max()) + 1 if n else 0
        if n and bool((batch[1:] < batch[:-1]).any()):                # group the nodes by graph
            order = torch.sort(batch, stable=True).indices
            xs, batch = [x[order] for x in xs], batch[order]
        t = self._tokens(xs)                                          # (N, L, d)
        # stage 1: one signed filter over the layers per graph, from the last layer's queries
        a = self.layer_weights(t, batch, size)                        # (B, L)
        self.layer_attention = a.detach()
        h = torch.einsum("nl,nld->nd", a[batch], t)
        # stage 2: self-attention among each graph's nodes, residual + LayerNorm, mean
        from torch_geometric.nn import global_mean_pool

        z = self.norm(h + self.node_attention(h, batch, size))
        return self.out(global_mean_pool(z, batch, size))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, hidden={self.hidden_channels}, "
                f"out={self.out_channels}, heads={self.heads})")
