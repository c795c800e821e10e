"""Neural Common Neighbor (NCN) and NCN with Completion (NCNC).

Both are "MPNN-then-structural-feature" link predictors: a GCN embeds the nodes once, and
each target pair (i, j) is represented by the sum of its common neighbours' embeddings
next to the Hadamard product of its own:

    NCN(i, j)  = MLP( [ MLP_cn( sum_{u in N(i) & N(j)} h_u ) || MLP_ij( h_i * h_j ) ] )
    NCNC(i, j) = as NCN, with the common-neighbour sum completed by soft neighbours:
                 sum_{u in N(i) & N(j)} h_u + sum_{u in N(i) - N(j)} p(u, j) h_u
                                           + sum_{u in N(j) - N(i)} p(i, u) h_u

where p(a, b) is the probability, predicted by NCN (the same weights, at depth 0, without
gradient), that the unobserved edge (a, b) exists. Training removes the batch's target
links from the input graph ("target link removal"); see :mod:`graphkit.linkpred.train`.

Common-neighbour sets come from :func:`graphkit.linkpred.common_neighbor_sets` (native
kernels: Numba on the CPU, torch on CUDA); the sums are one ``index_add_``.

Paper: X. Wang, H. Yang, M. Zhang, "Neural Common Neighbor with Completion for Link
Prediction", ICLR 2024 (reference code: GraphPKU/NeuralCommonNeighbor).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphkit.linkpred.encoders import GCN
from graphkit.linkpred.neighbors import PairSets, _as_graph, common_neighbor_sets


def _mlp(dims, dropout, layer_norm=True, last_act=True):
    layers = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers.append(nn.Linear(a, b))
        if layer_norm:
            layers.append(nn.LayerNorm(b))
        layers += [nn.Dropout(dropout), nn.ReLU()]
    if not last_act:
        layers = layers[: -3 if layer_norm else -2]
    return nn.Sequential(*layers)


def _set_sum(h: torch.Tensor, sets: PairSets, weight: torch.Tensor | None = None) -> torch.Tensor:
    """(B, H): sum of h over every pair's set (optionally weighted per entry)."""
    b = sets.ptr.numel() - 1
    vals = h[sets.nodes]
    if weight is not None:
        vals = vals * weight.unsqueeze(1)
    return torch.zeros(b, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, sets.pair_index(), vals)


def _check_pairs(pairs, num_nodes):
    if not torch.is_tensor(pairs) or pairs.dim() != 2 or pairs.shape[0] != 2:
        shape = tuple(pairs.shape) if torch.is_tensor(pairs) else type(pairs).__name__
        raise ValueError(f"pairs must be a (2, B) tensor, got {shape}")
    if pairs.numel() and (int(pairs.min()) < 0 or int(pairs.max()) >= num_nodes):
        raise ValueError(f"pairs must hold node ids in [0, {num_nodes}), got range "
                         f"[{int(pairs.min())}, {int(pairs.max())}]")


class NCN(nn.Module):
    """Neural Common Neighbor link predictor.

    Args:
        in_channels: F, node feature size.
        hidden_channels: H.
        mp_layers: GCN propagations of the encoder.
        dropout: encoder dropout. input_dropout: dropout on x.
        predictor_dropout: dropout inside the pair MLPs.
        cn_edge_dropout: fraction of edges dropped (training only) from the graph the
            common neighbours are read from.
        tail_dropout: dropout on the encoder's last propagation (see :class:`GCN`).
        xlin: sum the common neighbours' h + MLP(h) rather than h (a residual two-layer
            MLP; the reference code's ``--use_xlin``).
        scorer_layers: hidden layers of the final MLP (the reference code's
            ``--twolayerlin`` is 2).

    Shapes:
        x (N, F) dense or sparse COO; edge_index (2, E) both directions; pairs (2, B)
        -> logits (B,).

    Use ``h = model.encode(x, edge_index)`` once and ``model.score(h, graph, pairs)`` per
    batch, with ``graph = link_graph(edge_index, N)``; ``model(x, edge_index, pairs)`` does both.

    Paper: X. Wang, H. Yang, M. Zhang, "Neural Common Neighbor with Completion for Link
    Prediction", ICLR 2024.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 256, mp_layers: int = 1,
                 dropout: float = 0.05, input_dropout: float = 0.7, predictor_dropout: float = 0.05,
                 cn_edge_dropout: float = 0.0, tail_dropout: float = 0.0, xlin: bool = False,
                 scorer_layers: int = 1):
        super().__init__()
        for name, p in (("dropout", dropout), ("input_dropout", input_dropout),
                        ("predictor_dropout", predictor_dropout), ("cn_edge_dropout", cn_edge_dropout),
                        ("tail_dropout", tail_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {p!r}")
        if not isinstance(scorer_layers, int) or scorer_layers < 1:
            raise ValueError(f"scorer_layers must be a positive integer, got {scorer_layers!r}")
        self.encoder = GCN(in_channels, hidden_channels, mp_layers, dropout, input_dropout, tail_dropout=tail_dropout)
        h = hidden_channels
        self.cn_mlp = _mlp([h, h, h], predictor_dropout)
        self.ij_mlp = _mlp([h, h], predictor_dropout)
        self.scorer = nn.Sequential(_mlp([2 * h] + [h] * scorer_layers, predictor_dropout), nn.Linear(h, 1))
        self.xlin = nn.Sequential(nn.Linear(h, h), nn.Dropout(predictor_dropout), nn.ReLU(), nn.Linear(h, h),
                                  nn.LayerNorm(h), nn.Dropout(predictor_dropout), nn.ReLU()) if xlin else None
        self.cn_edge_dropout, self.predictor_dropout, self.scorer_layers = cn_edge_dropout, predictor_dropout, scorer_layers

    def reset_parameters(self):
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def encode(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None,
               adj: torch.Tensor | None = None) -> torch.Tensor:
        """(N, H) node embeddings of the GCN."""
        return self.encoder(x, edge_index, edge_weight, adj)

    def _cn_features(self, h):
        """(N, H) what the common-neighbour sums add up: h, or h + MLP(h) with ``xlin``."""
        return h if self.xlin is None else h + self.xlin(h)

    def _logits(self, h, common, pairs):
        return self.scorer(torch.cat([self.cn_mlp(common), self.ij_mlp(h[pairs[0]] * h[pairs[1]])], dim=1)).squeeze(1)

    def score(self, h: torch.Tensor, graph, pairs: torch.Tensor) -> torch.Tensor:
        """(B,) link logits of ``pairs`` given embeddings ``h`` (N, H) and the input graph.

        Args:
            h: (N, H) from :meth:`encode`.
            graph: ``CSRGraph`` from :func:`link_graph`, or an edge_index (2, E).
            pairs: (2, B) integer tensor.
        """
        g = _as_graph(graph, h.shape[0])
        _check_pairs(pairs, h.shape[0])
        common = common_neighbor_sets(g, pairs)
        return self._logits(h, _set_sum(self._cn_features(h), common), pairs)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """(B,) logits: encode the graph, then score the pairs."""
        h = self.encode(x, edge_index)
        return self.score(h, edge_index, pairs)


def _subsample(sets: PairSets, k: int, generator: torch.Generator | None) -> tuple[PairSets, torch.Tensor]:
    """At most ``k`` uniformly chosen members per pair (all where k < 0). Returns (sets, pair index)."""
    pair = sets.pair_index()
    if k < 0 or sets.nodes.numel() == 0 or int(sets.counts().max()) <= k:
        return sets, pair
    keys = torch.rand(sets.nodes.numel(), generator=generator).to(sets.nodes.device)
    order = torch.argsort(keys)
    order = order[torch.argsort(pair[order], stable=True)]  # random order within each pair
    rank = torch.arange(order.numel(), device=pair.device) - sets.ptr[pair[order]]
    keep = torch.sort(order[rank < k]).values
    counts = torch.bincount(pair[keep], minlength=sets.ptr.numel() - 1)
    ptr = torch.zeros_like(sets.ptr)
    torch.cumsum(counts, 0, out=ptr[1:])
    return PairSets(ptr, sets.nodes[keep]), pair[keep]


class NCNC(NCN):
    """Neural Common Neighbor with Completion.

    Adds to NCN's common-neighbour sum the neighbours of one target node that are not (yet)
    neighbours of the other, weighted by NCN's probability of the missing edge:
    p = alpha * pt * p0 / (pt * p0 + 1 - p0), p0 = sigmoid(scale * (logit - offset)), which
    is sigmoid(logit) at the defaults (alpha 1, pt 0.5, scale 1, offset 0).

    Args:
        in_channels ... cn_edge_dropout: as :class:`NCN`.
        alpha, pt, scale, offset: calibration of the completion probabilities (above).
        max_completion: at most this many completion candidates per side and pair, chosen
            uniformly at random while training and the first ones by id otherwise
            (-1: all; the reference predictor's defaults are 8 in training and 128 in
            evaluation, its Planetoid runs pass -1 for both).
        eval_max_completion: the cap outside training (-1: all).

    Shapes and methods as :class:`NCN`. :meth:`from_ncn` starts from a trained NCN.

    Paper: X. Wang, H. Yang, M. Zhang, "Neural Common Neighbor with Completion for Link
    Prediction", ICLR 2024, Sec. 5 (common neighbour completion, target link removal).
    """

    def __init__(self, in_channels: int, hidden_channels: int = 256, mp_layers: int = 1,
                 dropout: float = 0.05, input_dropout: float = 0.7, predictor_dropout: float = 0.05,
                 cn_edge_dropout: float = 0.0, alpha: float = 1.0, pt: float = 0.5, scale: float = 1.0,
                 offset: float = 0.0, max_completion: int = 8, eval_max_completion: int = 128,
                 tail_dropout: float = 0.0, xlin: bool = False, scorer_layers: int = 1):
        super().__init__(in_channels, hidden_channels, mp_layers, dropout, input_dropout,
                         predictor_dropout, cn_edge_dropout, tail_dropout, xlin, scorer_layers)
        if not 0.0 < pt < 1.0:
            raise ValueError(f"pt must lie in (0, 1), got {pt!r}")
        self.alpha, self.pt, self.scale, self.offset = float(alpha), float(pt), float(scale), float(offset)
        self.max_completion = int(max_completion)
        self.eval_max_completion = int(eval_max_completion)
        self.generator: torch.Generator | None = None

    @classmethod
    def from_ncn(cls, ncn: NCN, **kwargs) -> NCNC:
        """An NCNC whose weights are copied from a (trained) NCN; kwargs: completion settings."""
        enc = ncn.encoder
        model = cls(enc.lin.in_features, enc.lin.out_features, enc.num_layers, enc.dropout,
                    enc.input_dropout, ncn.predictor_dropout, ncn.cn_edge_dropout, tail_dropout=enc.tail_dropout,
                    xlin=ncn.xlin is not None, scorer_layers=ncn.scorer_layers, **kwargs)
        model.load_state_dict(ncn.state_dict())
        return model

    def completion_probability(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrated probability of unobserved edges from NCN logits (see the class doc)."""
        p0 = torch.sigmoid(self.scale * (logits - self.offset))
        return self.alpha * self.pt * p0 / (self.pt * p0 + 1 - p0)

    def score(self, h: torch.Tensor, graph, pairs: torch.Tensor, depth: int = 1) -> torch.Tensor:
        """(B,) logits; ``depth`` 0 scores as NCN (used for the completion itself)."""
        g = _as_graph(graph, h.shape[0])
        _check_pairs(pairs, h.shape[0])
        if depth <= 0:
            return super().score(h, g, pairs)
        common, only_u, only_v = common_neighbor_sets(g, pairs, residual=True)
        cap = self.max_completion if self.training else self.eval_max_completion
        gen = self.generator if self.training else None
        hc = self._cn_features(h)
        xcn = _set_sum(hc, common)
        # (w, v) for w in N(u) - N(v), and (u, w) for w in N(v) - N(u)
        for sets, other in ((only_u, pairs[1]), (only_v, pairs[0])):
            if self.training:
                sets, pair = _subsample(sets, cap, gen)
            else:
                sets, pair = _first_k(sets, cap)
            if sets.nodes.numel() == 0:
                continue
            with torch.no_grad():
                q = torch.stack([sets.nodes, other[pair]])
                prob = self.completion_probability(self.score(h, g, q, depth - 1))
            xcn = xcn + _set_sum(hc, sets, prob)
        return self._logits(h, xcn, pairs)


def _first_k(sets: PairSets, k: int) -> tuple[PairSets, torch.Tensor]:
    """The first (smallest-id) ``k`` members of every pair's set (all where k < 0)."""
    pair = sets.pair_index()
    if k < 0 or sets.nodes.numel() == 0 or int(sets.counts().max()) <= k:
        return sets, pair
    rank = torch.arange(sets.nodes.numel(), device=pair.device) - sets.ptr[pair]
    keep = rank < k
    counts = sets.counts().clamp_max(k)
    ptr = torch.zeros_like(sets.ptr)
    torch.cumsum(counts, 0, out=ptr[1:])
    return PairSets(ptr, sets.nodes[keep]), pair[keep]


class GAE(nn.Module):
    """Baseline: an MPNN encoder (GCN or GraphSAGE) with a dot-product or MLP pair decoder.

    Args:
        in_channels: F. hidden_channels: H. num_layers: MPNN layers. kind: 'gcn' / 'sage'.
        decoder: 'dot' (h_i . h_j) or 'mlp' (MLP(h_i * h_j)). dropout: encoder dropout.

    Shapes: as :class:`NCN` (``score`` ignores the graph).

    Paper: T. N. Kipf, M. Welling, "Variational Graph Auto-Encoders", 2016; W. Hamilton et
    al., "Inductive Representation Learning on Large Graphs", NeurIPS 2017.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 256, num_layers: int = 2,
                 kind: str = "gcn", decoder: str = "mlp", dropout: float = 0.5):
        super().__init__()
        from graphkit.linkpred.encoders import MPNNEncoder

        if decoder not in ("dot", "mlp"):
            raise ValueError(f"decoder must be 'dot' or 'mlp', got {decoder!r}")
        self.encoder = MPNNEncoder(in_channels, hidden_channels, num_layers, kind, dropout)
        self.decoder = decoder
        self.mlp = nn.Sequential(_mlp([hidden_channels, hidden_channels], dropout, False),
                                 nn.Linear(hidden_channels, 1)) if decoder == "mlp" else None
        self.cn_edge_dropout = 0.0

    def reset_parameters(self):
        self.encoder.reset_parameters()
        if self.mlp is not None:
            for m in self.mlp.modules():
                if hasattr(m, "reset_parameters") and m is not self.mlp:
                    m.reset_parameters()

    def encode(self, x, edge_index, edge_weight=None, adj=None):
        """(N, H) node embeddings."""
        return self.encoder(x, edge_index, edge_weight)

    def score(self, h, graph, pairs):
        """(B,) logits of ``pairs``."""
        _check_pairs(pairs, h.shape[0])
        z = h[pairs[0]] * h[pairs[1]]
        return z.sum(1) if self.mlp is None else self.mlp(z).squeeze(1)

    def forward(self, x, edge_index, pairs):
        return self.score(self.encode(x, edge_index), None, pairs)


def link_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of positive vs negative logits (mean over each side, summed)."""
    return F.softplus(-pos_logits).mean() + F.softplus(neg_logits).mean()
