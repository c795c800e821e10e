"""NAT: neighbourhood-aware temporal link prediction with dictionary-type N-caches.

Y. Luo, P. Li, *Neighborhood-aware Scalable Temporal Network Representation Learning*,
LoG 2022. Instead of sampling temporal neighbours and running attention, every node keeps
a self representation (a GRU memory, as TGN's) and fixed-size dictionaries of its 1-hop and
2-hop neighbours (keys = neighbour ids, down-sampled by hashing into ``M_h`` slots, values =
short vectors). For a candidate link ``(u, v)`` the two dictionaries are joined: every
neighbour ``w`` of either side gets the *joint structural feature* ``[w = u, w in N1(u),
w in N2(u), w = v, w in N1(v), w in N2(v)]`` (a distance encoding w.r.t. both ends, read by
one probe per dictionary), which is encoded by an MLP, added to ``w``'s stored value,
mean-pooled per side and decoded with the two self representations.

The N-cache lookup/update kernels are in :mod:`native.kernels.nat` (Numba on the CPU) and
:mod:`native.kernels.nat_cuda` (numba.cuda, the default on a GPU); the torch implementation
below runs the same semantics on any device (the fallback without numba-cuda).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from graphkit.temporal.tgn import TGN, TimeEncoder, _as_index
from native.kernels import nat as _k


def _slot_torch(w: torch.Tensor, m: int) -> torch.Tensor:
    return ((w * _k.HASH_A + _k.HASH_B) % _k.HASH_P) % m


def _apply_last_wins(keys, vals, node, slot, key, val) -> None:
    """keys[node, slot] = key, vals[node, slot] = val for writes in order, last one winning."""
    if node.numel() == 0:
        return
    M = keys.shape[1]
    lin = node * M + slot
    uniq, inv = torch.unique(lin, return_inverse=True)
    order = torch.arange(lin.numel(), device=lin.device)
    last = torch.full((uniq.numel(),), -1, dtype=torch.long, device=lin.device).scatter_reduce(
        0, inv, order, reduce="amax")
    keys.view(-1)[lin[last]] = key[last]
    vals.view(-1, vals.shape[-1])[lin[last]] = val[last]


def ncache_update_torch(keys1, vals1, keys2, vals2, src, dst, val_src, val_dst, draws, alpha) -> None:
    """Torch version of :func:`native.kernels.nat.ncache_update` (same arguments, tensors)."""
    M1, M2 = keys1.shape[1], keys2.shape[1]
    x = torch.stack([src, dst], 1)
    y = torch.stack([dst, src], 1)
    s1 = _slot_torch(y, M1)
    k = keys1[x, s1]
    ok1 = (k < 0) | (k == y) | (draws[:, :, 0] < alpha)
    w = keys1[y]  # (B, 2, M1): the other endpoint's pre-batch 1-hop keys
    cand = vals1[y]
    valid = (w >= 0) & (w != x.unsqueeze(-1))
    s2 = _slot_torch(w.clamp_min(0), M2)
    k2 = keys2[x.unsqueeze(-1).expand_as(w), s2]
    ok2 = valid & ((k2 < 0) | (k2 == w) | (draws[:, :, 1:] < alpha))
    vals = torch.stack([val_src, val_dst], 1)
    _apply_last_wins(keys1, vals1, x[ok1], s1[ok1], y[ok1], vals[ok1])
    xx = x.unsqueeze(-1).expand_as(w)
    _apply_last_wins(keys2, vals2, xx[ok2], s2[ok2], w[ok2], cand[ok2])


def ncache_pair_features_torch(keys1, keys2, u, v):
    """Torch version of :func:`native.kernels.nat.ncache_pair_features`."""
    M1, M2 = keys1.shape[1], keys2.shape[1]
    sides = [torch.cat([x.unsqueeze(1), keys1[x], keys2[x]], 1) for x in (u, v)]
    keys = torch.stack(sides, 1)  # (P, 2, S)
    valid = keys >= 0
    wc = keys.clamp_min(0)
    s1, s2 = _slot_torch(wc, M1), _slot_torch(wc, M2)
    a = u.view(-1, 1, 1).expand_as(keys)
    b = v.view(-1, 1, 1).expand_as(keys)
    feats = torch.stack([keys == a, keys1[a, s1] == keys, keys2[a, s2] == keys,
                         keys == b, keys1[b, s1] == keys, keys2[b, s2] == keys], -1)
    return keys, (feats & valid.unsqueeze(-1)).float()


def _numba_cuda_usable() -> bool:
    from native.device import cuda_available, numba_cuda

    if not cuda_available():
        return False
    try:
        return bool(numba_cuda().is_available())
    except Exception:  # numba-cuda missing or no driver it can use
        return False


class NCache:
    """Per-node 1-hop and 2-hop neighbour dictionaries in fixed slot arrays (NAT's N-cache).

    Args:
        num_nodes: N. size1, size2: slots per node of the 1-hop / 2-hop caches (M1, M2).
        dim: value width F. alpha: probability that a write replaces another key in an
            occupied slot (down-sampling; 1 = newest always wins). seed: of the draws.
        device: 'cpu' (numpy arrays, Numba kernels) or a torch device such as 'cuda' (torch
            tensors). backend: 'numba' (CPU), 'cuda' (the numba.cuda kernels of
            :mod:`native.kernels.nat_cuda`: a batch update is three launches, a lookup one;
            the default on a CUDA device) or 'torch' (torch ops, any device; the fallback
            without numba-cuda).

    Attributes: keys1 (N, M1) int64 (-1 empty), vals1 (N, M1, F) float32, keys2 (N, M2),
        vals2 (N, M2, F).
    """

    def __init__(self, num_nodes: int, size1: int = 16, size2: int = 16, dim: int = 16, alpha: float = 0.9,
                 seed: int = 0, device: str = "cpu", backend: str | None = None) -> None:
        for name, val in (("num_nodes", num_nodes), ("size1", size1), ("size2", size2), ("dim", dim)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
                raise ValueError(f"{name} must be a positive int, got {val!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        self.num_nodes, self.size1, self.size2, self.dim, self.alpha = int(num_nodes), int(size1), int(size2), int(dim), float(alpha)
        self.seed = seed
        dev = str(device)
        self.backend = backend or ("numba" if dev == "cpu" else "cuda" if _numba_cuda_usable() else "torch")
        if self.backend not in ("numba", "torch", "cuda"):
            raise ValueError(f"backend must be 'numba', 'cuda' or 'torch', got {self.backend!r}")
        if self.backend == "numba" and dev != "cpu":
            raise ValueError(f"the numba backend runs on the CPU, got device {dev!r}")
        self.device = dev
        self.reset()

    # numba.cuda views of torch tensors (on the CPU: numpy views, for Numba's CUDA simulator)
    def _cu(self, t: torch.Tensor):
        if not t.is_cuda:
            return t.numpy()
        from native.device import numba_cuda

        return numba_cuda().as_cuda_array(t, sync=False)

    def _stream(self):
        if not self.keys1.is_cuda:
            return 0
        from native.device import numba_cuda

        return numba_cuda().external_stream(torch.cuda.current_stream(self.keys1.device).cuda_stream)

    def reset(self) -> None:
        N, M1, M2, F = self.num_nodes, self.size1, self.size2, self.dim
        self.rng = np.random.default_rng(self.seed)
        if self.backend == "numba":
            self.keys1 = np.full((N, M1), -1, np.int64)
            self.vals1 = np.zeros((N, M1, F), np.float32)
            self.keys2 = np.full((N, M2), -1, np.int64)
            self.vals2 = np.zeros((N, M2, F), np.float32)
        else:
            self.keys1 = torch.full((N, M1), -1, dtype=torch.long, device=self.device)
            self.vals1 = torch.zeros(N, M1, F, device=self.device)
            self.keys2 = torch.full((N, M2), -1, dtype=torch.long, device=self.device)
            self.vals2 = torch.zeros(N, M2, F, device=self.device)
        if self.backend == "cuda":
            # claim tables of the last-writer-wins update; stamps grow, so no clearing per batch
            self._win1 = torch.zeros(N * M1, dtype=torch.long, device=self.device)
            self._win2 = torch.zeros(N * M2, dtype=torch.long, device=self.device)
            self._stamp = 0
            self._views = [self._cu(a) for a in (self.keys1, self.vals1, self.keys2, self.vals2, self._win1, self._win2)]
            self._stage = {}

    def _staged(self, name: str, rows: int, shape: tuple, dtype) -> tuple[torch.Tensor, object]:
        """A persistent device array of >= ``rows`` rows and its numba view (built once per growth:
        wrapping a torch tensor for numba costs more than the kernels)."""
        buf = self._stage.get(name)
        if buf is None or buf[0].shape[0] < rows:
            t = torch.empty((max(rows, 256 if buf is None else 2 * buf[0].shape[0]), *shape), dtype=dtype,
                            device=self.device)
            buf = self._stage[name] = (t, self._cu(t))
        return buf

    def _nodes(self, x, name):
        a = _as_index(x, name)
        if a.size and (a.min() < 0 or a.max() >= self.num_nodes):
            bad = a.min() if a.min() < 0 else a.max()
            raise ValueError(f"{name} holds node {int(bad)}, outside [0, {self.num_nodes})")
        return a

    def update(self, src, dst, val_src, val_dst) -> None:
        """Insert a batch of events (B,) with the values (B, F) written to src's / dst's cache."""
        src, dst = self._nodes(src, "src"), self._nodes(dst, "dst")
        B = src.shape[0]
        if tuple(val_src.shape) != (B, self.dim) or tuple(val_dst.shape) != (B, self.dim):
            raise ValueError(f"values must be ({B}, {self.dim}), got {tuple(val_src.shape)} and {tuple(val_dst.shape)}")
        draws = self.rng.random((B, 2, 1 + self.size1))
        if self.backend == "numba":
            f = (lambda a: np.ascontiguousarray(a.detach().cpu().numpy() if torch.is_tensor(a) else a, dtype=np.float32))
            _k.ncache_update(self.keys1, self.vals1, self.keys2, self.vals2, src, dst, f(val_src), f(val_dst),
                             draws, self.alpha)
        elif self.backend == "cuda":
            from native.kernels.nat_cuda import launch_update

            F, J = self.dim, 1 + self.size1
            views = []
            for name, a, shape, dt in (("src", src, (), torch.long), ("dst", dst, (), torch.long),
                                       ("val_src", val_src, (F,), torch.float32),
                                       ("val_dst", val_dst, (F,), torch.float32),
                                       ("draws", draws, (2, J), torch.float64)):
                buf, view = self._staged(name, B, shape, dt)
                buf[:B].copy_(torch.as_tensor(a), non_blocking=True)
                views.append(view)
            self._stamp += 1
            launch_update(B, *self._views, *views, self.alpha, self._stamp, stream=self._stream())
        else:
            d = self.device
            t = (lambda a: torch.as_tensor(a, dtype=torch.float32, device=d))
            ncache_update_torch(self.keys1, self.vals1, self.keys2, self.vals2, torch.from_numpy(src).to(d),
                                torch.from_numpy(dst).to(d), t(val_src), t(val_dst),
                                torch.from_numpy(draws).to(d), self.alpha)

    def pair_features(self, u, v):
        """(keys (P, 2, S) long, counts (P, 2, S, 6) float) torch tensors on the cache's device."""
        u, v = self._nodes(u, "u"), self._nodes(v, "v")
        if u.shape != v.shape:
            raise ValueError(f"u and v must have one length, got {u.shape} and {v.shape}")
        if self.backend == "numba":
            keys, counts = _k.ncache_pair_features(self.keys1, self.keys2, u, v)
            return torch.from_numpy(keys), torch.from_numpy(counts)
        d = self.device
        if self.backend == "cuda":
            from native.kernels.nat_cuda import launch_pair_features

            S, P = 1 + self.size1 + self.size2, u.size
            (ut, uv), (vt, vv) = self._staged("u", P, (), torch.long), self._staged("v", P, (), torch.long)
            ut[:P].copy_(torch.from_numpy(u), non_blocking=True)
            vt[:P].copy_(torch.from_numpy(v), non_blocking=True)
            (keys, kv), (counts, cv) = self._staged("keys", P, (2, S), torch.long), self._staged("counts", P, (2, S, 6), torch.float32)
            launch_pair_features(P, self._views[0], self._views[2], uv, vv, kv, cv, stream=self._stream())
            return keys[:P].clone(), counts[:P].clone()
        return ncache_pair_features_torch(self.keys1, self.keys2, torch.from_numpy(u).to(d), torch.from_numpy(v).to(d))

    def values(self, nodes) -> tuple[torch.Tensor, torch.Tensor]:
        """(vals1[nodes] (P, M1, F), vals2[nodes] (P, M2, F)) as torch tensors."""
        nodes = self._nodes(nodes, "nodes")
        if self.backend == "numba":
            return torch.from_numpy(self.vals1[nodes]), torch.from_numpy(self.vals2[nodes])
        idx = torch.from_numpy(nodes).to(self.device)
        return self.vals1[idx], self.vals2[idx]


class NAT(TGN):
    """NAT link predictor: GRU self representations + N-cache joint neighbourhood features.

    Args:
        num_nodes, edge_dim: as :class:`TGN`. memory_dim: self-representation width (32).
        time_dim: time-encoding width (16). cache_dim: N-cache value width F (16).
        size1, size2: 1-hop / 2-hop slots per node (16 / 16). alpha: replacement probability
            (0.9). hidden: decoder width (64). seed: of the cache's replacement draws.

    Same stream API as :class:`TGN` (``set_graph``, ``forward(src, dst, t, neg_dst)``,
    ``observe``). ``observe`` writes the batch into the N-caches after the batch has been
    predicted; values are the (detached) projected self representations.
    """

    def __init__(self, num_nodes: int, edge_dim: int = 0, memory_dim: int = 32, time_dim: int = 16,
                 cache_dim: int = 16, size1: int = 16, size2: int = 16, alpha: float = 0.9, hidden: int = 64,
                 seed: int = 0) -> None:
        self._cache_args = dict(size1=size1, size2=size2, dim=cache_dim, alpha=alpha, seed=seed)
        super().__init__(num_nodes, edge_dim, memory_dim=memory_dim, time_dim=time_dim, embedding_dim=hidden,
                         num_neighbors=1, heads=1, dropout=0.0, time_init="geometric",
                         message_store="batch")  # the batch's nodes are updated at the next batch
        # NAT has no attention over sampled neighbours: its N-caches replace them
        del self.embedding
        self.proj = nn.Linear(memory_dim, cache_dim)
        self.structure = nn.Sequential(nn.Linear(6, cache_dim), nn.ReLU(), nn.Linear(cache_dim, cache_dim))
        self.pair_time = TimeEncoder(time_dim, init="geometric")
        self.decoder = nn.Sequential(nn.Linear(2 * memory_dim + 3 * cache_dim + 2 * time_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 1))
        self.cache = NCache(num_nodes, **self._cache_args)

    def reset_parameters(self) -> None:
        self.time_enc.reset_parameters()
        self.pair_time.reset_parameters()
        self.gru.reset_parameters()
        for m in (self.proj, self.structure[0], self.structure[2], self.decoder[0], self.decoder[2]):
            m.reset_parameters()
        self.reset_state()

    def reset_state(self) -> None:
        super().reset_state()
        if hasattr(self, "cache"):
            self.cache.reset()

    def _sync_cache_device(self) -> None:
        dev = self.memory.device
        if dev.type != "cpu" and self.cache.backend == "numba":
            self.cache = NCache(self.num_nodes, device=str(dev), **self._cache_args)

    def score_pairs(self, u: np.ndarray, v: np.ndarray, t: np.ndarray) -> torch.Tensor:
        """Logits (P,) of candidate links (u, v) at times t, from the current state."""
        self._sync_cache_device()
        uv = np.concatenate([u, v])
        rows, lu = self.memory_of(uv)
        dev = rows.device
        mem_u, mem_v, lu_u, lu_v = rows[:u.size], rows[u.size:], lu[:u.size], lu[u.size:]
        keys, counts = self.cache.pair_features(u, v)
        keys, counts = keys.to(dev), counts.to(dev)
        # both sides at once, side-major (rows of u, then rows of v), as ``rows`` is
        P, S = u.size, keys.shape[-1]
        v1, v2 = self.cache.values(uv)
        vals = torch.cat([self.proj(rows).unsqueeze(1), v1.to(dev), v2.to(dev)], 1)  # (2P, S, F)
        h = vals + self.structure(counts.transpose(0, 1).reshape(2 * P, S, 6))
        mask = (keys.transpose(0, 1).reshape(2 * P, S) >= 0).unsqueeze(-1).float()
        pooled = ((h * mask).sum(1) / mask.sum(1).clamp_min(1.0)).split(P)
        tt = torch.from_numpy(t).to(dev)
        feats = torch.cat([mem_u, mem_v, pooled[0], pooled[1], pooled[0] * pooled[1],
                           *self.pair_time(torch.cat([tt - lu_u, tt - lu_v]).float()).split(P)], 1)
        return self.decoder(feats).squeeze(-1)

    def forward(self, src, dst, t, neg_dst=None):
        src, dst = _as_index(src, "src"), _as_index(dst, "dst")
        t = np.asarray(t, dtype=np.float64)
        if not (src.shape == dst.shape == t.shape):
            raise ValueError(f"src, dst, t must have one length, got {src.shape}, {dst.shape}, {t.shape}")
        if neg_dst is None:
            return self.score_pairs(src, dst, t)
        neg = _as_index(neg_dst, "neg_dst")
        out = self.score_pairs(np.concatenate([src, src]), np.concatenate([dst, neg]), np.concatenate([t, t]))
        return out[:src.size], out[src.size:]

    def observe(self, src, dst, t, eids) -> None:
        src, dst = _as_index(src, "src"), _as_index(dst, "dst")
        self._sync_cache_device()
        with torch.no_grad():
            z = self.proj(self.memory_of(np.concatenate([dst, src]))[0])
        self.cache.update(src, dst, z[:src.size], z[src.size:])
        super().observe(src, dst, t, eids)
