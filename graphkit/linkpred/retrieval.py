"""Whole-graph link prediction by candidate retrieval and re-ranking.

Scoring every node pair with NCNC costs O(N^2) pair evaluations. Instead each query node
gets ``num_candidates`` candidates (existing neighbours and itself excluded) and only those
pairs are scored by the link model (NCNC / NCN / GAE). Candidates come from an
``ann.HNSWIndex`` over node embeddings (the nearest nodes), from the two-hop neighbourhood
ranked by a common-neighbour heuristic (the pairs NCN's common-neighbour term favours), or
from both. :func:`exhaustive_top_k` scores all N candidates per query, the reference the
retrieval is measured against.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from graphkit.linkpred.neighbors import link_graph
from native import device as _dev


def _edge_keys(graph) -> np.ndarray:
    """Sorted int64 keys u * N + v of the graph's edges."""
    g = graph.to("cpu")
    rows = np.repeat(np.arange(g.num_nodes, dtype=np.int64), np.diff(g.indptr))
    return rows * g.num_nodes + g.indices.astype(np.int64)


def _is_edge(keys: np.ndarray, u: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    q = u.astype(np.int64) * n + v.astype(np.int64)
    at = np.minimum(np.searchsorted(keys, q), max(keys.size - 1, 0))
    return (keys[at] == q) if keys.size else np.zeros(q.shape, bool)


def _top_k_rows(scores: torch.Tensor, ids: torch.Tensor, k: int):
    """Per row, the k best (score, id) among valid entries (id >= 0); pads with (-inf, -1)."""
    s = scores.masked_fill(ids < 0, -float("inf"))
    kk = min(k, s.shape[1])
    top, at = torch.topk(s, kk, dim=1)
    out_ids = torch.gather(ids, 1, at).masked_fill(torch.isinf(top), -1)
    if kk < k:
        pad = k - kk
        top = torch.cat([top, torch.full((s.shape[0], pad), -float("inf"))], 1)
        out_ids = torch.cat([out_ids, torch.full((s.shape[0], pad), -1, dtype=out_ids.dtype)], 1)
    return top, out_ids


@torch.no_grad()
def _score_grid(model, h, graph, queries: torch.Tensor, cand: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(n, C) logits of pairs (queries[r], cand[r, c]); -inf where cand < 0."""
    n, c = cand.shape
    flat_q = queries.repeat_interleave(c)
    flat_c = cand.reshape(-1)
    ok = flat_c >= 0
    out = torch.full((n * c,), -float("inf"))
    pairs = torch.stack([flat_q[ok], flat_c[ok]])
    vals = [model.score(h, graph, pairs[:, i:i + batch_size]) for i in range(0, pairs.shape[1], batch_size)]
    if vals:
        out[ok] = torch.cat(vals).float().cpu()
    return out.view(n, c)


class CandidateReranker:
    """Top-k new links for query nodes: retrieved candidates re-ranked by a link model.

    Args:
        model: a trained link predictor with ``encode`` and ``score`` (NCN, NCNC, GAE).
        num_candidates: C, candidates retrieved per query node (>= 1).
        source: where candidates come from: 'hnsw' (nearest neighbours of ``embedding`` in an
            ``ann.HNSWIndex``), 'two_hop' (nodes sharing a neighbour with the query, best
            ``heuristic`` first; no index is built) or 'mixed' (the best
            ceil(two_hop_share * C) two-hop nodes, then HNSW neighbours up to C).
        heuristic: ranking of two-hop nodes, 'cn', 'aa' or 'ra' (resource allocation).
        two_hop_share: of 'mixed', in [0, 1].
        metric: of the index over the embeddings, 'ip', 'cosine' or 'l2'.
        M, ef_construction: of the ``ann.HNSWIndex``. ef: beam width of the searches
            (default max(64, 2 C)).
        batch_size: pairs per scoring call.
        embedding: what the index holds: 'model' (the encoder's embeddings), 'structure'
            (random projections of the adjacency, whose cosine estimates the normalised
            common-neighbour count: candidates by shared neighbours) or 'both' (the two
            unit vectors side by side).

    Example::

        rr = CandidateReranker(ncnc, num_candidates=300, source="mixed").fit(x, edge_index, num_nodes)
        scores, ids = rr.recommend(torch.arange(100), k=100)      # (100, 100) each

    Retrieval: Yu. A. Malkov, D. A. Yashunin, TPAMI 2018 (HNSW); re-ranking: NCNC,
    X. Wang, H. Yang, M. Zhang, ICLR 2024.
    """

    def __init__(self, model, num_candidates: int = 200, metric: str = "cosine", M: int = 16,
                 ef_construction: int = 200, ef: int | None = None, batch_size: int = 65536,
                 embedding: str = "model", source: str = "mixed", heuristic: str = "ra",
                 two_hop_share: float = 0.75):
        from graphkit.linkpred.heuristics import _check_name

        if isinstance(num_candidates, bool) or int(num_candidates) != num_candidates or num_candidates < 1:
            raise ValueError(f"num_candidates must be a positive integer, got {num_candidates!r}")
        if source not in ("hnsw", "two_hop", "mixed"):
            raise ValueError(f"source must be 'hnsw', 'two_hop' or 'mixed', got {source!r}")
        _check_name(heuristic)
        if not 0.0 <= float(two_hop_share) <= 1.0:
            raise ValueError(f"two_hop_share must be in [0, 1], got {two_hop_share!r}")
        self.source, self.heuristic, self.two_hop_share = source, heuristic, float(two_hop_share)
        if metric not in ("ip", "cosine", "l2"):
            raise ValueError(f"metric must be 'ip', 'cosine' or 'l2', got {metric!r}")
        if embedding not in ("model", "structure", "both"):
            raise ValueError(f"embedding must be 'model', 'structure' or 'both', got {embedding!r}")
        self.embedding = embedding
        self.model = model
        self.num_candidates = int(num_candidates)
        self.metric, self.M, self.ef_construction = metric, M, ef_construction
        self.ef = ef or max(64, 2 * self.num_candidates)
        self.batch_size = batch_size
        self.index = None
        self.graph = None
        self.timings: dict = {}

    @torch.no_grad()
    def fit(self, x: torch.Tensor, edge_index: torch.Tensor, num_nodes: int, h: torch.Tensor | None = None):
        """Embed the nodes (or take ``h`` (N, H)) and index them (not for 'two_hop'). Returns self."""
        import ann

        self.model.eval()
        t0 = time.perf_counter()
        self.h = self.model.encode(x, edge_index) if h is None else h
        self.graph = link_graph(edge_index, num_nodes)
        self.num_nodes = num_nodes
        self._keys = _edge_keys(self.graph)
        t1 = time.perf_counter()
        if self.source != "two_hop":
            emb = self._vectors(edge_index)
            self.index = ann.HNSWIndex(emb.shape[1], metric=self.metric, M=self.M,
                                       ef_construction=self.ef_construction)
            self.index.add(emb)
        self.timings = {"encode_s": t1 - t0, "index_s": time.perf_counter() - t1}
        return self

    def _vectors(self, edge_index) -> np.ndarray:
        """(N, d) float32 vectors of the index (see ``embedding``)."""
        from graphkit.linkpred.topology import random_projection_embedding

        unit = self.metric != "ip"  # with 'ip' the raw vectors: dot products estimate CN counts
        parts = []
        if self.embedding in ("model", "both"):
            h = self.h.detach().double().cpu()
            parts.append(torch.nn.functional.normalize(h, dim=1) if unit else h)
        if self.embedding in ("structure", "both"):
            r = random_projection_embedding(edge_index, self.num_nodes, hops=1, dim=128, normalize=unit).cpu()
            parts.append(torch.nn.functional.normalize(r, dim=1) if unit else r)
        self._emb = torch.cat(parts, dim=1).float().numpy()
        return self._emb

    def _check_queries(self, queries) -> torch.Tensor:
        if self.graph is None:
            raise ValueError("call fit(x, edge_index, num_nodes) before querying")
        q = torch.as_tensor(queries).long().cpu().reshape(-1)
        if q.numel() and (int(q.min()) < 0 or int(q.max()) >= self.num_nodes):
            raise ValueError(f"queries must be node ids in [0, {self.num_nodes}), got range "
                             f"[{int(q.min())}, {int(q.max())}]")
        return q

    def candidates(self, queries) -> torch.Tensor:
        """(n, C) int64 candidate ids per query (not itself, not an existing neighbour; -1 pads).

        With 'mixed', the two-hop candidates come first, then HNSW ones not already taken.
        """
        from graphkit.linkpred.heuristics import two_hop_candidates

        q = self._check_queries(queries)
        c = self.num_candidates
        parts = []
        if self.source != "hnsw":
            c2 = c if self.source == "two_hop" else int(np.ceil(self.two_hop_share * c))
            if c2:
                parts.append(two_hop_candidates(self.graph, q, c2, self.heuristic)[1].numpy())
        if self.source != "two_hop":
            parts.append(self._hnsw_candidates(q))
        ids = np.concatenate(parts, axis=1)  # never empty: 'two_hop' asks for C >= 1, the others add HNSW
        # drop repeats (keep the first occurrence) and pads, then keep the first C of every row
        by_id = np.argsort(ids, axis=1, kind="stable")
        s = np.take_along_axis(ids, by_id, axis=1)
        rep = np.zeros_like(ids, dtype=bool)
        np.put_along_axis(rep, by_id[:, 1:], s[:, 1:] == s[:, :-1], axis=1)
        bad = rep | (ids < 0)
        order = np.argsort(bad, axis=1, kind="stable")[:, :c]
        out = np.take_along_axis(np.where(bad, -1, ids), order, axis=1)
        if out.shape[1] < c:
            out = np.concatenate([out, np.full((out.shape[0], c - out.shape[1]), -1, np.int64)], axis=1)
        return torch.from_numpy(out.astype(np.int64))

    def _hnsw_candidates(self, q: torch.Tensor) -> np.ndarray:
        """(n, C) nearest nodes in the index, minus the query and its neighbours (-1 pads)."""
        deg = _dev.as_numpy(self.graph.degree())
        extra = int(deg[q.numpy()].max()) + 1 if q.numel() else 1
        k = min(self.num_candidates + extra, self.num_nodes)
        _, I = self.index.search(self._emb[q.numpy()], k, ef=max(self.ef, k))
        qq = np.repeat(q.numpy(), k).reshape(I.shape)
        bad = (I < 0) | (I == qq)
        bad |= _is_edge(self._keys, qq.reshape(-1), np.maximum(I, 0).reshape(-1), self.num_nodes).reshape(I.shape)
        return np.where(bad, -1, I).astype(np.int64)

    def recommend(self, queries, k: int = 100):
        """(scores (n, k) float32 logits, ids (n, k) int64) of the best new links per query."""
        q = self._check_queries(queries)
        t0 = time.perf_counter()
        cand = self.candidates(q)
        t1 = time.perf_counter()
        scores = _score_grid(self.model, self.h, self.graph, q, cand, self.batch_size)
        out = _top_k_rows(scores, cand, k)
        self.timings.update(search_s=t1 - t0, rerank_s=time.perf_counter() - t1)
        return out


@torch.no_grad()
def exhaustive_top_k(model, h: torch.Tensor, graph, queries, k: int = 100, batch_size: int = 65536):
    """Score every node against every query (existing neighbours and self excluded) and keep the best k.

    Returns (scores (n, k), ids (n, k)) like :meth:`CandidateReranker.recommend`.
    """
    model.eval()
    q = torch.as_tensor(queries).long().cpu().reshape(-1)
    n = graph.num_nodes
    cand = torch.arange(n).repeat(q.numel(), 1)
    keys = _edge_keys(graph)
    qq = q.repeat_interleave(n).numpy()
    bad = _is_edge(keys, qq, cand.reshape(-1).numpy(), n).reshape(cand.shape) | (cand.numpy() == q.numpy()[:, None])
    cand[torch.from_numpy(bad)] = -1
    return _top_k_rows(_score_grid(model, h, graph, q, cand, batch_size), cand, k)


def recall_at_k(ids: torch.Tensor, queries, held_out: torch.Tensor) -> float:
    """Fraction of held-out links (q, t) (2, L), q in ``queries``, with t among row q's ``ids``.

    Links are matched in both directions: (a, b) counts for query a (target b) and for
    query b (target a) when both are queries.
    """
    q = torch.as_tensor(queries).long().cpu().reshape(-1)
    row = {int(v): r for r, v in enumerate(q.tolist())}
    found = total = 0
    sets = [set(r.tolist()) for r in ids]
    for a, b in held_out.t().tolist():
        for s, t in ((a, b), (b, a)):
            if s in row:
                total += 1
                found += t in sets[row[s]]
    return found / total if total else float("nan")
