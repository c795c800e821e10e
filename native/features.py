"""FeatureStore: node/edge feature rows in (pinned) host memory, gathered by batches of ids,
with an optional fixed-size device cache in front.

**Store** (PyTorch-Direct, Min et al., VLDB 2021). With ``device='cuda'`` the rows live in
mapped pinned host memory with a 128-byte aligned row stride, and a numba.cuda kernel with one
warp per row reads the requested rows straight into GPU memory (zero-copy over UVA,
:mod:`native.kernels.features_cuda`); ``mode='cpu'`` instead gathers on the CPU (parallel
Numba) into a pinned buffer and copies it. Without a GPU the store is plain host memory and
``gather`` is the parallel Numba gather. :meth:`FeatureStore.prefetch` starts the gather of
the next batch on a side CUDA stream (a worker thread on the CPU), overlapping it with the
caller's compute.

**Cache** (LSM-GNN, Yu et al., 2024). ``cache_rows > 0`` keeps that many rows on the device.
Every batch (its distinct ids) is served from the cache where possible; the misses come from
the prefetched rows, then from a victim buffer of recently evicted rows in pinned host
memory, then from the store, and are offered to the cache. Eviction scores a cached row by

    score = w * static[node] + (1 - w) / (1 + age)

with ``static`` a per-node static importance in [0, 1] (default: log-degree scaled to [0, 1],
or given), ``age`` the number of batches since the row was last used and ``w`` the static
weight (``policy='hybrid'``); a missing row scores ``w * static + (1 - w)`` and replaces the
lowest-scoring row not used by the current batch when it scores higher. ``policy='lru'``
is ``w = 0``: always admit, evict the least recently used. Ties go to the lower node id
(candidates) and the lower slot (victims). :attr:`FeatureStore.stats` counts hits.

All cache bookkeeping is torch ops on the cache's device, so the same code runs (and is
tested) on CPU tensors.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import Any

import numpy as np

from native import device as _dev
from native.kernels import features as _k

_DTYPES = ("float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64")
_POLICIES = ("hybrid", "lru")
_MODES = ("zero_copy", "cpu")


@dataclass
class CacheStats:
    """Counts over distinct ids per batch (a repeated id in one batch counts once).

    Attributes:
        requests: ids asked for. hits: served by the device cache. prefetch_hits: misses
        served by :meth:`FeatureStore.prefetch`. victim_hits: misses served by the victim
        buffer. store_reads: rows read from the store by ``gather``. admitted / evicted: rows
        that entered / left the cache. batches: calls to ``gather``.
    """

    requests: int = 0
    hits: int = 0
    prefetch_hits: int = 0
    victim_hits: int = 0
    store_reads: int = 0
    admitted: int = 0
    evicted: int = 0
    batches: int = 0

    @property
    def hit_rate(self) -> float:
        """hits / requests (0 before any request)."""
        return self.hits / self.requests if self.requests else 0.0

    def reset(self) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, 0)


def _torch():
    import torch

    return torch


def log_degree_score(degree: Any) -> np.ndarray:
    """Static importance log(1 + d) / log(1 + max d) in [0, 1], (N,) float32."""
    d = np.log1p(np.maximum(_dev.as_numpy(degree).astype(np.float64), 0))
    top = d.max() if d.size else 0.0
    return (d / top if top > 0 else d).astype(np.float32)


def _check_finite(features: np.ndarray, block_bytes: int = 1 << 26) -> None:
    """Raise ValueError naming the first row of a float matrix that holds NaN or infinity;
    reads it in blocks of about ``block_bytes`` so a memmap is not loaded whole."""
    if features.dtype.kind != "f" or features.size == 0:
        return
    step = max(1, block_bytes // max(1, features.shape[1] * features.dtype.itemsize))
    for lo in range(0, features.shape[0], step):
        ok = np.isfinite(features[lo : lo + step]).all(axis=1)
        if not ok.all():
            row = lo + int(np.argmin(ok))
            raise ValueError(
                f"features row {row} holds NaN or infinity ({features[row][~np.isfinite(features[row])][:3]}...);"
                " clean it, or pass check_finite=False to store it as it is"
            )


class FeatureStore:
    """Rows of a (N, F) feature matrix, gathered by id onto a device, optionally cached there.

    Args:
        features: (N, F) numpy array (a ``np.memmap`` is read in place on the CPU) or CPU
            torch tensor of a numeric dtype (float16/32/64, int8/16/32/64, uint8).
        device: where ``gather`` returns rows: None / 'cpu', or 'cuda' (pinned host store,
            zero-copy gather).
        cache_rows: rows kept in the device cache (0: no cache).
        policy: 'hybrid' (static + recency score) or 'lru'.
        static_score: (N,) per-node static importance (e.g. degree, PageRank); scaled to
            [0, 1] by its maximum. Default: all equal. Use :func:`log_degree_score`.
        static_weight: w of the hybrid score, in [0, 1].
        victim_rows: rows of the pinned host victim buffer holding recent evictions (0: none).
        mode: with CUDA, 'zero_copy' (GPU threads read pinned memory) or 'cpu' (CPU gather
            into a pinned buffer + copy).
        check_finite: read every row of a floating-point matrix once, in blocks, and refuse
            NaN or infinity (a model trained on gathered NaN rows fails far from its cause).
            False skips that read, e.g. for a memmap much larger than memory known to be clean.

    Raises:
        TypeError: features of another type or dtype. ValueError: bad shapes or options, or
        a NaN / infinite feature (the first such row is named).
        RuntimeError: device='cuda' without a CUDA device.

    Example::

        store = FeatureStore(x, device="cuda", cache_rows=100_000,
                             static_score=log_degree_score(graph.degree()))
        h = store.gather(batch.n_id)          # (B, F) on the GPU
    """

    def __init__(
        self,
        features: Any,
        device: Any = None,
        cache_rows: int = 0,
        policy: str = "hybrid",
        static_score: Any = None,
        static_weight: float = 0.5,
        victim_rows: int = 0,
        mode: str = "zero_copy",
        check_finite: bool = True,
    ) -> None:
        torch = _torch()
        if isinstance(features, torch.Tensor):
            if features.device.type != "cpu":
                raise ValueError(f"features must be in host memory, got a tensor on {features.device}")
            if str(features.dtype).replace("torch.", "") not in _DTYPES:
                raise TypeError(f"features dtype must be one of {_DTYPES}, got {features.dtype}")
            features = features.detach().numpy()
        if not isinstance(features, np.ndarray):
            raise TypeError(f"features must be a numpy array or a CPU torch tensor, got {type(features).__name__}")
        if features.ndim != 2:
            raise ValueError(f"features must be 2-D (N, F), got shape {features.shape}")
        if features.dtype.name not in _DTYPES:
            raise TypeError(f"features dtype must be one of {_DTYPES}, got {features.dtype}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if policy not in _POLICIES:
            raise ValueError(f"policy must be one of {_POLICIES}, got {policy!r}")
        for name, v in (("cache_rows", cache_rows), ("victim_rows", victim_rows)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        if not 0.0 <= float(static_weight) <= 1.0:
            raise ValueError(f"static_weight must lie in [0, 1], got {static_weight!r}")
        if check_finite:
            _check_finite(features)
        self.device = _dev.resolve_device(device)
        self.mode = mode
        self.num_rows, self.num_features = features.shape
        self.dtype = features.dtype
        self._tdtype = getattr(torch, features.dtype.name)
        self._out_device = torch.device("cuda") if self.device == _dev.CUDA else torch.device("cpu")
        self._setup_host(features)
        self.stats = CacheStats()
        self._pool = None
        self._pending = None  # (sorted ids, rows or future/event)
        self.cache_rows = int(min(cache_rows, self.num_rows))
        self.policy = policy
        self.static_weight = 0.0 if policy == "lru" else float(static_weight)
        if static_score is None:
            static = np.ones(self.num_rows, np.float32)
        else:
            static = _dev.as_numpy(static_score).astype(np.float32).reshape(-1)
            if static.shape[0] != self.num_rows:
                raise ValueError(f"static_score has {static.shape[0]} entries, features has {self.num_rows} rows")
            if not np.isfinite(static).all() or static.min() < 0:
                raise ValueError("static_score must be finite and >= 0")
            static = static / static.max() if static.max() > 0 else static
        dev = self._out_device
        if self.cache_rows:
            self._static = torch.from_numpy(static).to(dev)
            self._slot_of = torch.full((self.num_rows,), -1, dtype=torch.int32, device=dev)
            self._node_of = torch.full((self.cache_rows,), -1, dtype=torch.int64, device=dev)
            self._last_use = torch.full((self.cache_rows,), -1, dtype=torch.int64, device=dev)
            self._data = torch.empty((self.cache_rows, self.num_features), dtype=self._tdtype, device=dev)
        self.victim_rows = int(min(victim_rows, self.num_rows)) if self.cache_rows else 0
        if self.victim_rows:
            self._vb_data = torch.empty((self.victim_rows, self.num_features), dtype=self._tdtype)
            if self.device == _dev.CUDA:
                self._vb_data = self._vb_data.pin_memory()
            self._vb_node = np.full(self.victim_rows, -1, np.int64)
            self._vb_slot_of = np.full(self.num_rows, -1, np.int64)
            self._vb_head = 0
        self._t = 0

    # ----------------------------------------------------------------------- host store

    def _setup_host(self, features: np.ndarray) -> None:
        """The host rows and ``self._hw``, a view of them as integer words (N, W) that the
        gather kernels copy whatever the dtype (Numba has no float16)."""
        row = self.num_features * self.dtype.itemsize
        if self.device == _dev.CPU:
            host = features if features.flags.c_contiguous else np.ascontiguousarray(features)
            g = next(g for g in (8, 4, 2, 1) if row % g == 0) if row else 1
            self._hw = host.reshape(self.num_rows, -1).view(np.dtype(f"int{8 * g}"))
            self._host = host
            return
        cuda = _dev.numba_cuda()
        words = _k.row_words(self.num_features, self.dtype.itemsize)
        self._words = cuda.mapped_array((self.num_rows, words), dtype=np.int64)  # pinned, device-mapped
        host_words = np.asarray(self._words)  # a plain ndarray view of the mapped memory
        self._host = host_words.view(self.dtype)[:, : self.num_features]
        self._hw = host_words[:, : -(-row // 8)]
        step = max(1, (64 << 20) // max(1, words * 8))
        for i in range(0, self.num_rows, step):
            self._host[i : i + step] = features[i : i + step]

    def _from_words(self, out):
        """A (B, F) tensor of the store's dtype from gathered (B, W) integer words."""
        row = self.num_features * self.dtype.itemsize
        if out.shape[0] == 0:
            return _torch().empty((0, self.num_features), dtype=self._tdtype, device=out.device)
        flat = out.view(_torch().uint8)
        if flat.shape[1] != row:
            flat = flat[:, :row].contiguous()
        return flat.view(self._tdtype)

    def _read_store(self, ids, stream=None):
        """Rows ``ids`` (int64 tensor on the output device, valid) from the store, as a tensor."""
        torch = _torch()
        b, w = ids.shape[0], self._hw.shape[1]
        if self.device == _dev.CPU or self.mode == "cpu":
            on_gpu = self.device == _dev.CUDA
            out = torch.empty((b, w), dtype=getattr(torch, self._hw.dtype.name), pin_memory=on_gpu)
            _k.gather_rows(self._hw, ids.cpu().numpy(), out.numpy())
            if on_gpu:
                out = out.to(self._out_device, non_blocking=True)
            return self._from_words(out)
        from native.kernels.features_cuda import launch_gather

        cuda = _dev.numba_cuda()
        out = torch.empty((b, w), dtype=torch.int64, device=self._out_device)
        s = torch.cuda.current_stream() if stream is None else stream
        launch_gather(self._words, cuda.as_cuda_array(ids), cuda.as_cuda_array(out),
                      stream=cuda.external_stream(s.cuda_stream))
        return self._from_words(out)

    # ----------------------------------------------------------------------- public API

    def __repr__(self) -> str:
        return (f"FeatureStore(rows={self.num_rows}, features={self.num_features}, dtype={self.dtype}, "
                f"device={self.device!r}, cache_rows={self.cache_rows}, policy={self.policy!r}, "
                f"victim_rows={self.victim_rows})")

    def _ids(self, ids: Any):
        torch = _torch()
        if not isinstance(ids, torch.Tensor):
            a = np.asarray(ids)
            ids = torch.as_tensor(a.astype(np.int64) if a.size == 0 else a)
        t = ids
        if t.dim() != 1:
            raise ValueError(f"ids must be 1-D, got shape {tuple(t.shape)}")
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise TypeError(f"ids must hold integers, got dtype {t.dtype}")
        t = t.to(self._out_device, torch.int64)
        if t.numel():
            lo, hi = int(t.min()), int(t.max())
            if lo < 0 or hi >= self.num_rows:
                bad = lo if lo < 0 else hi
                raise ValueError(f"ids must lie in [0, {self.num_rows}), found {bad}")
        return t

    def gather(self, ids: Any):
        """Rows ``ids`` of the features, (B, F) tensor on the store's device.

        Raises:
            TypeError: non-integer ids. ValueError: ids not 1-D or outside [0, N).
        """
        torch = _torch()
        ids = self._ids(ids)
        if not self.cache_rows:
            pre = self._take_pending()
            if pre is not None and pre[0].numel() == ids.numel() and bool((pre[0] == ids).all()):
                return pre[1]
            return self._read_store(ids)
        uniq, inverse = torch.unique(ids, sorted=True, return_inverse=True)
        return self._cached(uniq)[inverse]

    def prefetch(self, ids: Any) -> None:
        """Start reading the rows of the next batch that the cache lacks (side stream / thread).

        The next :meth:`gather` uses them; a later ``prefetch`` replaces them.
        """
        torch = _torch()
        ids = self._ids(ids)
        if self.cache_rows:
            ids = torch.unique(ids, sorted=True)
            ids = ids[self._slot_of[ids] < 0]
        self._pending = (ids, self._start_read(ids))

    def _start_read(self, ids):
        torch = _torch()
        if self.device == _dev.CUDA:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                rows = self._read_store(ids, stream=side)
            ev = torch.cuda.Event()
            ev.record(side)
            return rows, ev
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        return self._pool.submit(self._read_store, ids), None

    def _take_pending(self):
        """(sorted ids, rows) of the last prefetch, waited for; None without one."""
        if self._pending is None:
            return None
        ids, (handle, ev) = self._pending
        self._pending = None
        if ev is not None:
            torch = _torch()
            torch.cuda.current_stream().wait_event(ev)
            handle.record_stream(torch.cuda.current_stream())
            return ids, handle
        return ids, handle.result()

    # ----------------------------------------------------------------------- cache

    def _fetch_misses(self, miss):
        """Rows of the (sorted, distinct) missing ids: prefetched, victim buffer, store."""
        torch = _torch()
        out = torch.empty((miss.numel(), self.num_features), dtype=self._tdtype, device=self._out_device)
        todo = torch.ones(miss.numel(), dtype=torch.bool, device=self._out_device)
        pre = self._take_pending()
        if pre is not None and pre[0].numel() and miss.numel():
            pids, prows = pre
            pos = torch.searchsorted(pids, miss).clamp_max(pids.numel() - 1)
            found = pids[pos] == miss
            out[found] = prows[pos[found]]
            todo &= ~found
            self.stats.prefetch_hits += int(found.sum())
        if self.victim_rows and bool(todo.any()):
            idx = torch.nonzero(todo).flatten()
            vslot = torch.from_numpy(self._vb_slot_of[miss[idx].cpu().numpy()])
            found = vslot >= 0
            if bool(found.any()):
                rows = self._vb_data[vslot[found]]
                fidx = idx[found.to(idx.device)]
                out[fidx] = rows.to(self._out_device, non_blocking=True)
                todo[fidx] = False
                self.stats.victim_hits += int(found.sum())
        if bool(todo.any()):
            idx = torch.nonzero(todo).flatten()
            out[idx] = self._read_store(miss[idx])
            self.stats.store_reads += int(idx.numel())
        return out

    def _cached(self, uniq):
        torch = _torch()
        t = self._t
        slots = self._slot_of[uniq].long()
        hit = slots >= 0
        out = torch.empty((uniq.numel(), self.num_features), dtype=self._tdtype, device=self._out_device)
        hs = slots[hit]
        out[hit] = self._data[hs]
        self._last_use[hs] = t
        miss_pos = torch.nonzero(~hit).flatten()
        miss = uniq[miss_pos]
        rows = self._fetch_misses(miss)
        out[miss_pos] = rows
        self._admit(miss, rows, t)
        self.stats.requests += int(uniq.numel())
        self.stats.hits += int(hs.numel())
        self.stats.batches += 1
        self._t = t + 1
        return out

    def _admit(self, miss, rows, t: int) -> None:
        """Offer the missed rows to the cache (module docstring: scores, ties, admission)."""
        torch = _torch()
        k = miss.numel()
        if k == 0:
            return
        w = self.static_weight
        cand = w * self._static[miss] + (1.0 - w)
        order = torch.sort(-cand, stable=True).indices
        free = self._node_of < 0
        age = (t - self._last_use).to(torch.float32)
        score = w * self._static[self._node_of.clamp_min(0)] + (1.0 - w) / (1.0 + age)
        score = torch.where(free, torch.full_like(score, -float("inf")), score)
        score = torch.where(self._last_use == t, torch.full_like(score, float("inf")), score)
        vorder = torch.sort(score, stable=True).indices
        m = min(k, self.cache_rows)
        ok = (cand[order[:m]] > score[vorder[:m]]).to(torch.int64).cumprod(0)
        a = int(ok.sum())
        if a == 0:
            return
        take, vslots = order[:a], vorder[:a]
        new = miss[take]
        old = self._node_of[vslots]
        was = old >= 0
        if bool(was.any()):
            ev_nodes = old[was]
            if self.victim_rows:
                self._push_victims(ev_nodes, self._data[vslots[was]])
            self._slot_of[ev_nodes] = -1
            self.stats.evicted += int(ev_nodes.numel())
        self._slot_of[new] = vslots.to(torch.int32)
        self._node_of[vslots] = new
        self._last_use[vslots] = t
        self._data[vslots] = rows[take]
        self.stats.admitted += a

    def _push_victims(self, nodes, rows) -> None:
        """Append evicted rows to the victim ring buffer (oldest entries overwritten)."""
        v = self.victim_rows
        nodes_np = nodes.cpu().numpy()
        k = nodes_np.shape[0]
        if k > v:
            nodes_np, rows, k = nodes_np[-v:], rows[-v:], v
        pos = (self._vb_head + np.arange(k)) % v
        old = self._vb_node[pos]
        self._vb_slot_of[old[old >= 0]] = -1
        self._vb_node[pos] = nodes_np
        self._vb_slot_of[nodes_np] = pos
        self._vb_data[_torch().from_numpy(pos)] = rows.to("cpu")
        self._vb_head = int((self._vb_head + k) % v)

    def cached_ids(self):
        """Sorted ids of the rows now in the device cache, (C',) int64 on the device."""
        torch = _torch()
        if not self.cache_rows:
            return torch.empty(0, dtype=torch.int64)
        ids = self._node_of[self._node_of >= 0]
        return torch.sort(ids).values

    def close(self) -> None:
        """Stop the prefetch worker thread (CPU); the store stays usable."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


__all__ = ["FeatureStore", "CacheStats", "log_degree_score"]
