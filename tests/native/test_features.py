"""FeatureStore: gathers against numpy indexing, the cache against a slow Python simulation of
its policy, the zero-copy CUDA kernel under Numba's simulator."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from native.device import cuda_available
from native.features import FeatureStore, log_degree_score
from native.kernels.features import gather_rows


class ReferenceCache:
    """The policy of native.features, one id at a time with dicts and lists."""

    def __init__(self, n, cache_rows, static, w, victim_rows):
        self.C, self.w, self.V = cache_rows, w, victim_rows
        self.static = static
        self.node_of = [-1] * cache_rows  # slot -> node
        self.last = [-1] * cache_rows
        self.slot_of = {}
        self.victims = []  # FIFO of nodes, at most V
        self.t = 0
        self.hits = self.victim_hits = self.store_reads = 0

    def step(self, ids):
        t, w = self.t, self.w
        uniq = sorted(set(int(i) for i in ids))
        misses = []
        for u in uniq:
            if u in self.slot_of:
                self.hits += 1
                self.last[self.slot_of[u]] = t
            else:
                misses.append(u)
        for u in misses:
            if u in self.victims:
                self.victim_hits += 1
            else:
                self.store_reads += 1
        cands = sorted(misses, key=lambda u: (-(w * self.static[u] + 1 - w), u))

        def slot_score(s):
            if self.node_of[s] < 0:
                return -np.inf
            if self.last[s] == t:
                return np.inf
            return w * self.static[self.node_of[s]] + (1 - w) / (1 + t - self.last[s])

        victims = sorted(range(self.C), key=lambda s: (np.float32(slot_score(s)), s))
        for u, s in zip(cands, victims):
            if not np.float32(w * self.static[u] + 1 - w) > np.float32(slot_score(s)):
                break
            old = self.node_of[s]
            if old >= 0:
                del self.slot_of[old]
                if self.V:
                    if old in self.victims:
                        self.victims.remove(old)  # never: a victim re-enters only from a miss
                    self.victims.append(old)
                    self.victims = self.victims[-self.V:]
            self.node_of[s], self.last[s], self.slot_of[u] = u, t, s
        self.t += 1


@pytest.fixture(scope="module")
def cora_x():
    from graphkit.datasets import load_planetoid

    d = load_planetoid("cora")
    deg = np.bincount(d.edge_index[0], minlength=d.num_nodes)
    return d.x, deg, d.edge_index


def test_kernel_matches_numpy(rng):
    src = rng.standard_normal((500, 37)).astype(np.float32)
    ids = rng.integers(0, 500, 1000)
    out = np.empty((1000, 37), np.float32)
    gather_rows(src, ids, out)
    assert np.array_equal(out, src[ids])
    strided = np.arange(500 * 64).reshape(500, 64)[:, :37]  # a column slice, like the mapped store's word view
    out2 = np.empty((1000, 37), np.int64)
    gather_rows(strided, ids, out2)
    assert np.array_equal(out2, strided[ids])


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.uint8])
def test_gather_without_cache_is_indexing(cora_x, dtype, rng):
    x = (cora_x[0] * 7).astype(dtype)
    store = FeatureStore(x)
    ids = rng.integers(0, x.shape[0], 3000)
    got = store.gather(torch.from_numpy(ids))
    assert got.dtype == getattr(torch, np.dtype(dtype).name) and got.device.type == "cpu"
    assert np.array_equal(got.numpy(), x[ids])
    assert store.gather([]).shape == (0, x.shape[1])
    store.prefetch(ids[:10])  # prefetched through the worker thread
    assert np.array_equal(store.gather(ids[:10]).numpy(), x[ids[:10]])
    assert np.array_equal(store.gather(ids[5:9]).numpy(), x[ids[5:9]])  # the pending one was other ids
    store.close()


@pytest.mark.parametrize("policy,victim_rows", [("hybrid", 0), ("lru", 0), ("hybrid", 64)])
def test_cache_matches_reference_on_cora(cora_x, policy, victim_rows):
    x, deg, ei = cora_x
    n = x.shape[0]
    static = log_degree_score(deg)
    store = FeatureStore(x, cache_rows=270, policy=policy, static_score=static, static_weight=0.6,
                         victim_rows=victim_rows)
    w = 0.0 if policy == "lru" else 0.6
    ref = ReferenceCache(n, 270, static, w, victim_rows)
    rng = np.random.default_rng(3)
    for b in range(40):
        # neighbourhoods of random seeds: a skewed, repeating access pattern like sampling's
        seeds = rng.integers(0, n, 25)
        ids = np.concatenate([seeds, ei[1][np.isin(ei[0], seeds)]])
        got = store.gather(torch.from_numpy(ids))
        assert np.array_equal(got.numpy(), x[ids])
        ref.step(ids)
        cached = store.cached_ids().numpy()
        assert np.array_equal(cached, np.array(sorted(ref.slot_of), dtype=np.int64)), b
    s = store.stats
    assert (s.hits, s.store_reads) == (ref.hits, ref.store_reads)
    assert s.victim_hits == ref.victim_hits
    assert s.requests == s.hits + s.store_reads + s.victim_hits + s.prefetch_hits
    assert 0 < s.hit_rate < 1 and s.batches == 40
    if victim_rows:
        assert s.victim_hits > 0


def test_prefetch_serves_the_next_misses(cora_x, rng):
    x, deg, _ = cora_x
    store = FeatureStore(x, cache_rows=100)
    a, b = rng.integers(0, 2708, 300), rng.integers(0, 2708, 300)
    store.gather(a)
    store.prefetch(b)
    before = store.stats.store_reads
    got = store.gather(b)
    assert np.array_equal(got.numpy(), x[b])
    assert store.stats.store_reads == before  # every miss came from the prefetch
    assert store.stats.prefetch_hits > 0
    store.close()


def test_hybrid_keeps_high_degree_rows_lru_does_not():
    # a hot set of 10 'hubs' used every other batch, and a stream of one-off rows
    n, C = 2000, 10
    static = np.zeros(n, np.float32)
    static[:10] = 1.0
    x = np.arange(n, dtype=np.float32)[:, None].repeat(4, 1)
    hyb = FeatureStore(x, cache_rows=C, static_score=static, static_weight=0.5)
    lru = FeatureStore(x, cache_rows=C, policy="lru")
    for b in range(100):
        ids = np.arange(20 * b, 20 * b + 20) % (n - 10) + 10
        if b % 2 == 0:
            ids = np.concatenate([ids, np.arange(10)])
        hyb.gather(ids)
        lru.gather(ids)
    assert hyb.stats.hit_rate > 0.15 and lru.stats.hit_rate < 0.05  # hybrid: the hubs of 49 batches


def test_validation(rng):
    x = rng.standard_normal((10, 3)).astype(np.float32)
    with pytest.raises(TypeError, match="dtype must be one of"):
        FeatureStore(x.astype(np.complex64))
    with pytest.raises(TypeError, match="numpy array or a CPU torch tensor"):
        FeatureStore([[1.0]])
    with pytest.raises(ValueError, match="2-D"):
        FeatureStore(x[0])
    with pytest.raises(ValueError, match="policy must be"):
        FeatureStore(x, policy="lfu")
    with pytest.raises(ValueError, match="cache_rows must be"):
        FeatureStore(x, cache_rows=-1)
    with pytest.raises(ValueError, match="static_score has 3 entries"):
        FeatureStore(x, cache_rows=2, static_score=np.ones(3))
    store = FeatureStore(torch.from_numpy(x), cache_rows=3)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 10\), found 10"):
        store.gather([1, 10])
    with pytest.raises(ValueError, match="found -1"):
        store.gather(torch.tensor([-1]))
    with pytest.raises(TypeError, match="integers"):
        store.gather(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="1-D"):
        store.gather(torch.zeros(2, 2, dtype=torch.int64))
    if not cuda_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            FeatureStore(x, device="cuda")


def test_non_finite_features_are_refused_by_row(rng, tmp_path):
    from native.features import _check_finite

    x = rng.standard_normal((1000, 4)).astype(np.float32)
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[731, 2] = bad
        with pytest.raises(ValueError, match="row 731 holds NaN or infinity"):
            FeatureStore(y)
        with pytest.raises(ValueError, match="row 731"):
            FeatureStore(torch.from_numpy(y).half())
        # a memmap is read in blocks: the bad row is found in a later block, by its global index
        m = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=y.shape)
        m[:] = y
        m.flush()
        with pytest.raises(ValueError, match="row 731"):
            _check_finite(np.load(tmp_path / "x.npy", mmap_mode="r"), block_bytes=64)
        del m
        store = FeatureStore(y, check_finite=False)  # the caller's choice: stored as it is
        assert np.isnan(store.gather([731]).numpy()[0, 2]) == np.isnan(bad)
    FeatureStore(np.full((3, 2), 7, np.int64))  # integer features have no NaN and are not scanned


SIMULATED = textwrap.dedent("""
    import numpy as np
    from native.device import numba_cuda
    from native.kernels.features import row_words
    from native.kernels.features_cuda import launch_gather
    cuda = numba_cuda()
    rng = np.random.default_rng(0)
    for f, dtype in ((5, np.float32), (64, np.float32), (33, np.float16)):
        x = rng.standard_normal((300, f)).astype(dtype)
        words = row_words(f, x.dtype.itemsize)
        assert words * 8 % 128 == 0
        host = cuda.mapped_array((300, words), dtype=np.int64)
        host.view(dtype)[:, :f] = x
        ids = rng.integers(0, 300, 77)
        row = f * x.dtype.itemsize
        out = np.zeros((77, -(-row // 8)), np.int64)
        launch_gather(host, ids, out, threads=64, max_blocks=3)   # grid-stride over rows
        got = out.view(np.uint8)[:, :row].copy().view(dtype)
        assert np.array_equal(got, x[ids]), f
    print("ok")
""")


def test_zero_copy_kernel_under_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, "-c", SIMULATED], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["zero_copy", "cpu"])
@pytest.mark.parametrize("f", [64, 100])
def test_cuda_gather_and_cache(mode, f, rng):
    x = rng.standard_normal((5000, f)).astype(np.float32)
    ids = torch.from_numpy(rng.integers(0, 5000, 4000))
    store = FeatureStore(x, device="cuda", mode=mode)
    got = store.gather(ids.cuda())
    assert got.is_cuda and np.array_equal(got.cpu().numpy(), x[ids.numpy()])
    cached = FeatureStore(x, device="cuda", mode=mode, cache_rows=500, victim_rows=100)
    for _ in range(3):
        nxt = torch.from_numpy(rng.integers(0, 5000, 1000))
        cached.prefetch(nxt.cuda())
        assert np.array_equal(cached.gather(nxt.cuda()).cpu().numpy(), x[nxt.numpy()])
    assert cached.stats.prefetch_hits > 0
