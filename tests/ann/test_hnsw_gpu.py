"""HNSW batch search on the GPU: the CUDA kernel against the CPU search.

CI has no GPU: there the kernel runs under Numba's CUDA simulator (in a subprocess, since
the simulator is chosen when numba.cuda is first imported) on a small graph. On a machine
with a GPU the `gpu` tests run it for real on SIFT-5K.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ann.evaluate import recall_at_k
from ann.hnsw import HNSWIndex
from native.device import cuda_available

SIMULATED = textwrap.dedent("""
    import numpy as np
    import ann, ann.hnsw
    ann.hnsw.resolve_device = lambda d: "cuda"   # the simulator stands in for a device
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 8)).astype(np.float32)
    Q = rng.standard_normal((3, 8)).astype(np.float32)
    idx = ann.HNSWIndex(8, M=4, ef_construction=32)
    idx.add(X, ids=np.arange(200) * 3)
    idx.remove([0, 3, 6])
    keep = np.flatnonzero(rng.random(200) < 0.5) * 3
    for f in (None, keep):
        Dg, Ig = idx.search(Q, 5, ef=20, filter=f, device="cuda")
        Dc, Ic = idx.search(Q, 5, ef=20, filter=f, exact_below=0)  # the CPU walk, not a scan
        assert np.array_equal(Ig, Ic), (Ig, Ic)
        np.testing.assert_allclose(Dg, Dc, rtol=1e-5, atol=1e-4)
        assert not np.isin(Ig, [0, 3, 6]).any()
        if f is not None:
            assert np.isin(Ig, keep).all()
    print("ok")
""")


def test_cuda_kernel_under_the_simulator_matches_cpu():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, "-c", SIMULATED], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


def test_auto_device_falls_back_to_cpu(sift5k):
    idx = HNSWIndex(128, M=8, ef_construction=40)
    idx.add(sift5k["base"][:1000])
    Q = np.tile(sift5k["query"], (3, 1))  # 1,500 queries: 'auto' would pick a GPU if there were one
    D, I = idx.search(Q, 10, device="auto")
    D2, I2 = idx.search(Q, 10)
    if not cuda_available():
        assert np.array_equal(I, I2) and np.array_equal(D, D2)
        with pytest.raises(RuntimeError, match="no CUDA device"):
            idx.search(Q[:2], 10, device="cuda")
    with pytest.raises(ValueError, match="device must be"):
        idx.search(Q[:2], 10, device="tpu")


@pytest.mark.gpu
@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_gpu_search_on_sift(sift5k, metric):
    idx = HNSWIndex(128, metric=metric)
    idx.add(sift5k["base"])
    Q = sift5k["query"]
    Dg, Ig = idx.search(Q, 10, ef=64, device="cuda")
    Dc, Ic = idx.search(Q, 10, ef=64)
    assert (Ig == Ic).mean() >= 0.98
    if metric == "l2":
        assert recall_at_k(Ig, sift5k["groundtruth"], 10) >= 0.95
    # a filter and removals on the GPU too
    idx.remove(np.arange(0, 4500, 2))
    Dg, Ig = idx.search(Q, 10, ef=64, device="cuda", filter=np.arange(1, 4500, 4))
    assert np.isin(Ig[Ig >= 0], np.arange(1, 4500, 4)).all()
