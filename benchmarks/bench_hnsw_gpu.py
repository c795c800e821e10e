"""HNSW batch search on the GPU against exact GPU brute force (torch matmul + topk).

Needs a CUDA device. Builds the graph on the CPU (all cores), then times 10k-query
batches: ann.HNSWIndex.search(..., device='cuda') over an ef sweep, and
ann.FlatIndex(device='cuda') (exact), reporting recall@10 and the throughput ratio.

    python benchmarks/bench_hnsw_gpu.py --n 1000000 --dim 128          # synthetic, clustered
    python benchmarks/bench_hnsw_gpu.py --dataset sift5k
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import ann  # noqa: E402
from ann.evaluate import recall_at_k  # noqa: E402
from bench_hnsw import clustered  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", help="bundled set (sift5k, mnist10k) instead of synthetic data")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--nq", type=int, default=10_000)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--efs", default="16,32,64,128")
    p.add_argument("--index", help="cache the built graph in this file")
    a = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    if a.dataset:
        from graphkit.datasets import load_vectors

        d = load_vectors(a.dataset)
        X, Q = d["base"], d["query"]
        Q = np.tile(Q, (max(1, a.nq // len(Q)), 1))[: a.nq]
    else:
        X, Q = clustered(a.n, a.nq, a.dim, max(10, a.n // 1000))
    print(f"base {X.shape}, queries {Q.shape}, k={a.k}, {torch.cuda.get_device_name()}")
    flat = ann.FlatIndex(dim=X.shape[1], device="cuda")
    flat.add(X)
    flat.search(Q[:100], a.k)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    De, Ie = flat.search(Q, a.k)
    t_exact = time.perf_counter() - t0
    print(f"exact GPU (torch matmul + topk): {t_exact * 1e3:.1f} ms, {len(Q) / t_exact:,.0f} QPS")
    if a.index and os.path.exists(a.index):
        idx = ann.load(a.index)
    else:
        t0 = time.perf_counter()
        idx = ann.HNSWIndex(dim=X.shape[1])
        idx.add(X)
        print(f"HNSW build on the CPU: {time.perf_counter() - t0:.1f} s")
        if a.index:
            idx.save(a.index)
    idx.search(Q[:100], a.k, device="cuda")  # compile + copy the graph
    print(f"{'ef':>5} {'recall':>8} {'GPU ms':>9} {'QPS':>12} {'x exact':>8} {'CPU QPS':>10}")
    for ef in (int(e) for e in a.efs.split(",")):
        t0 = time.perf_counter()
        D, I = idx.search(Q, a.k, ef=ef, device="cuda")
        t = time.perf_counter() - t0
        t0 = time.perf_counter()
        idx.search(Q[:1000], a.k, ef=ef)
        cpu_qps = 1000 / (time.perf_counter() - t0)
        r = recall_at_k(I, Ie, a.k)
        print(f"{ef:5d} {r:8.4f} {t * 1e3:9.1f} {len(Q) / t:12,.0f} {t_exact / t:8.2f} {cpu_qps:10,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
