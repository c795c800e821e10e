"""NAT's N-caches: the Numba kernels and the torch path against a python-dict reference on a
CollegeMsg slice; the NAT model's no-leak property and a short training run."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from graphkit.datasets import load_temporal
from graphkit.temporal.nat import NAT, NCache
from graphkit.temporal.train import fit_link_prediction, link_split
from native import TemporalGraph
from native.kernels.nat import slot_numpy

torch.set_num_threads(1)
M1, M2, F = 4, 6, 3


class DictCache:
    """Reference: per node and hop a dict slot -> (key, value), the documented semantics."""

    def __init__(self, alpha):
        self.alpha = alpha
        self.c1, self.c2 = {}, {}

    def update(self, src, dst, vs, vd, draws):
        pre1 = {x: dict(d) for x, d in self.c1.items()}
        pre2 = {x: dict(d) for x, d in self.c2.items()}
        w1, w2 = [], []
        for e in range(len(src)):
            for side in range(2):
                x, y = (src[e], dst[e]) if side == 0 else (dst[e], src[e])
                val = vs[e] if side == 0 else vd[e]
                s = int(slot_numpy(y, M1))
                old = pre1.get(x, {}).get(s)
                if old is None or old[0] == y or draws[e, side, 0] < self.alpha:
                    w1.append((x, s, y, val))
                for j in range(M1):
                    ent = pre1.get(y, {}).get(j)
                    if ent is None or ent[0] == x:
                        continue
                    w, z = ent
                    s2 = int(slot_numpy(w, M2))
                    old = pre2.get(x, {}).get(s2)
                    if old is None or old[0] == w or draws[e, side, 1 + j] < self.alpha:
                        w2.append((x, s2, w, z))
        for x, s, k, v in w1:
            self.c1.setdefault(x, {})[s] = (k, np.array(v))
        for x, s, k, v in w2:
            self.c2.setdefault(x, {})[s] = (k, np.array(v))

    def dense(self, n):
        k1, v1 = np.full((n, M1), -1), np.zeros((n, M1, F), np.float32)
        k2, v2 = np.full((n, M2), -1), np.zeros((n, M2, F), np.float32)
        for c, k, v in ((self.c1, k1, v1), (self.c2, k2, v2)):
            for x, d in c.items():
                for s, (key, val) in d.items():
                    k[x, s], v[x, s] = key, val
        return k1, v1, k2, v2

    def features(self, a, b):
        """Counts of every candidate: membership by scanning the dicts' keys."""
        n1 = {x: {k for k, _ in d.values()} for x, d in self.c1.items()}
        n2 = {x: {k for k, _ in d.values()} for x, d in self.c2.items()}
        out = []
        for side, x in enumerate((a, b)):
            cands = [x] + [self.c1.get(x, {}).get(j, (-1,))[0] for j in range(M1)] + \
                    [self.c2.get(x, {}).get(j, (-1,))[0] for j in range(M2)]
            rows = []
            for w in cands:
                if w < 0:
                    rows.append([0.0] * 6)
                    continue
                rows.append([w == a, w in n1.get(a, ()), w in n2.get(a, ()), w == b, w in n1.get(b, ()), w in n2.get(b, ())])
            out.append((cands, np.array(rows, dtype=np.float32)))
        return out


@pytest.fixture(scope="module")
def stream():
    g = load_temporal("collegemsg")[:700]
    return np.asarray(g.src), np.asarray(g.dst), g.num_nodes


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_ncache_matches_dict_reference(stream, backend):
    src, dst, n = stream
    alpha = 0.5
    cache = NCache(n, size1=M1, size2=M2, dim=F, alpha=alpha, seed=3, backend=backend)
    ref = DictCache(alpha)
    draws_rng = np.random.default_rng(3)  # the cache's own generator, replayed
    rng = np.random.default_rng(0)
    for a in range(0, src.size, 100):
        b = min(a + 100, src.size)
        vs = rng.standard_normal((b - a, F)).astype(np.float32)
        vd = rng.standard_normal((b - a, F)).astype(np.float32)
        cache.update(src[a:b], dst[a:b], torch.from_numpy(vs), torch.from_numpy(vd))
        ref.update(src[a:b], dst[a:b], vs, vd, draws_rng.random((b - a, 2, 1 + M1)))
    got = [np.asarray(x.cpu() if torch.is_tensor(x) else x) for x in (cache.keys1, cache.vals1, cache.keys2, cache.vals2)]
    for g, r in zip(got, ref.dense(n)):
        np.testing.assert_array_equal(g, r)
    assert (got[2] >= 0).sum() > 50  # the 2-hop caches did fill
    pairs_u = np.r_[src[-40:], src[:5]]
    pairs_v = np.r_[dst[-40:], rng.integers(0, n, 5)]
    keys, counts = cache.pair_features(pairs_u, pairs_v)
    for i, (a, b) in enumerate(zip(pairs_u, pairs_v)):
        for side, (cands, rows) in enumerate(ref.features(int(a), int(b))):
            assert keys[i, side].tolist() == cands
            np.testing.assert_array_equal(counts[i, side].numpy(), rows)
    assert counts[..., 1].sum() > 0 and counts[..., 5].sum() > 0


def test_ncache_checks_input():
    with pytest.raises(ValueError, match="alpha"):
        NCache(10, alpha=2.0)
    c = NCache(10, dim=F)
    with pytest.raises(ValueError, match="outside"):
        c.pair_features([1], [10])
    with pytest.raises(ValueError, match="values"):
        c.update([1], [2], torch.zeros(1, F + 1), torch.zeros(1, F + 1))


def test_nat_no_leak_and_training(stream):
    src, dst, n = stream
    t = np.asarray(load_temporal("collegemsg").t[:src.size])
    rng = np.random.default_rng(5)
    a, b = 300, 400
    dst2 = dst.copy()
    dst2[a:] = rng.integers(0, n, src.size - a)
    out = []
    for d in (dst, dst2):
        g = TemporalGraph(src, d, t, num_nodes=n)
        torch.manual_seed(0)
        m = NAT(n, memory_dim=8, time_dim=4, cache_dim=4, size1=M1, size2=M2).eval()
        m.set_graph(g)
        with torch.no_grad():
            for c in range(0, a, 100):
                m(src[c:c + 100], d[c:c + 100], t[c:c + 100])
                m.observe(src[c:c + 100], d[c:c + 100], t[c:c + 100], np.arange(c, c + 100))
            out.append(m(src[a:b], dst[a:b], t[a:b]))
    torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)

    g = load_temporal("collegemsg")[:2500]
    split = link_split(g, seed=0)
    torch.manual_seed(0)
    res = fit_link_prediction(NAT(g.num_nodes, memory_dim=16, cache_dim=8), g, split, epochs=1, batch_size=100, lr=3e-3)
    assert 0.6 < res["test"]["ap"] <= 1.0


# The numba.cuda kernels (backend 'cuda') against the Numba CPU kernels. Without a GPU they run
# under Numba's CUDA simulator, in a subprocess since the simulator is chosen when numba.cuda
# is first imported; with one, the gpu test runs them on the device.
CUDA_VS_NUMBA = textwrap.dedent("""
    import sys
    import numpy as np, torch
    from graphkit.datasets import load_temporal
    from graphkit.temporal.nat import NCache
    device, n_events = sys.argv[1], int(sys.argv[2])
    g = load_temporal("collegemsg")[:n_events]
    src, dst, n = np.asarray(g.src), np.asarray(g.dst), g.num_nodes
    M1, M2, F = 4, 6, 3
    caches = [NCache(n, size1=M1, size2=M2, dim=F, alpha=0.5, seed=3, device=d, backend=b)
              for d, b in (("cpu", "numba"), (device, "cuda"))]
    rng = np.random.default_rng(0)
    bounds = np.r_[np.arange(0, src.size, 360)[:, None] + [0, 60], [[src.size, src.size]]].ravel()
    for a, b in zip(bounds[:-1], bounds[1:]):  # batches of 60 and 300 (past the staging arrays' first size)
        b = min(b, src.size)
        if b <= a:
            continue
        vs = torch.from_numpy(rng.standard_normal((b - a, F)).astype(np.float32))
        vd = torch.from_numpy(rng.standard_normal((b - a, F)).astype(np.float32))
        for c in caches:
            c.update(src[a:b], dst[a:b], vs.to(c.device), vd.to(c.device))
    ref, got = caches
    for name in ("keys1", "vals1", "keys2", "vals2"):
        np.testing.assert_array_equal(np.asarray(getattr(got, name).cpu()), getattr(ref, name), err_msg=name)
    assert (ref.keys2 >= 0).sum() > 20
    u = np.r_[src[-30:], src[:5]]
    v = np.r_[dst[-30:], rng.integers(0, n, 5)]
    for x, y in zip(ref.pair_features(u, v), got.pair_features(u, v)):
        np.testing.assert_array_equal(y.cpu().numpy(), x.numpy())
    print("ok")
""")


def test_ncache_cuda_kernels_under_the_simulator_match_numba():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, "-c", CUDA_VS_NUMBA, "cpu", "400"], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


@pytest.mark.gpu
def test_ncache_cuda_kernels_on_the_gpu_match_numba():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    r = subprocess.run([sys.executable, "-c", CUDA_VS_NUMBA, "cuda", "5000"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr
