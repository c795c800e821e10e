"""FeatureStore gather bandwidth, and its cache on a synthetic power-law graph.

Part 1, gather (random 100k-id batches of a 1M x {256, 64} float32 matrix), side by side:
  - GPU: contiguous pinned host -> device copy of the same bytes (the PCIe ceiling),
    CPU gather (parallel Numba, all threads) into pinned memory + copy (``mode='cpu'``),
    a naive zero-copy kernel (thread per element, unpadded rows), and FeatureStore's
    zero-copy gather (aligned rows, warp per row); GB/s of gathered rows and ratios.
  - CPU only: FeatureStore.gather (parallel Numba) vs numpy fancy indexing vs torch.index_select.

Part 2, cache (``--cache``): GraphSAGE epochs over a synthetic power-law graph with
GPUNeighborLoader, features through FeatureStore with no cache, LRU and the hybrid policy
(cache of ``--cache-frac`` of the rows): hit rate and epoch time.

    python benchmarks/bench_feature_store.py                 # on the lent GPU: full size
    python benchmarks/bench_feature_store.py --small         # CPU-sized
    python benchmarks/bench_feature_store.py --cache --nodes 10000000
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from native.device import cuda_available  # noqa: E402
from native.features import FeatureStore, log_degree_score  # noqa: E402


CPU_TIME = False  # --cpu-time: time CPU methods by process CPU time (a shared machine)


def _timed(fn, iters, cuda):
    """Seconds per call: wall time, or with ``--cpu-time`` on the CPU the process's CPU time
    summed over its threads (robust when other jobs share the cores)."""
    fn()  # warm-up (compiles kernels)
    if cuda:
        torch.cuda.synchronize()
    clock = time.process_time if CPU_TIME and not cuda else time.perf_counter
    t0 = clock()
    for _ in range(iters):
        fn()
    if cuda:
        torch.cuda.synchronize()
    return (clock() - t0) / iters


def naive_zero_copy(x_host_mapped, ids, out):
    """Thread per element on unpadded rows: the baseline the issue measured (49.9 GB/s at 256-d)."""
    from native.device import numba_cuda

    cuda = numba_cuda()
    if not hasattr(naive_zero_copy, "kernel"):
        @cuda.jit
        def k(src, ids, out):
            i = cuda.grid(1)
            f = out.shape[1]
            if i < ids.shape[0] * f:
                out[i // f, i % f] = src[ids[i // f], i % f]

        naive_zero_copy.kernel = k
    n = ids.shape[0] * out.shape[1]
    naive_zero_copy.kernel[(n + 255) // 256, 256](x_host_mapped, cuda.as_cuda_array(ids), cuda.as_cuda_array(out))


def bench_gather(rows, dim, batch, iters, rng):
    x = rng.standard_normal((rows, dim), dtype=np.float32)
    ids_np = rng.integers(0, rows, batch)
    nbytes = batch * dim * 4
    res = {}
    if cuda_available():
        from native.device import numba_cuda

        ids = torch.from_numpy(ids_np).cuda()
        src = torch.from_numpy(x[:batch].copy()).pin_memory()
        res["pinned copy (contiguous)"] = _timed(lambda: src.to("cuda", non_blocking=True), iters, True)
        cpu = FeatureStore(x, device="cuda", mode="cpu")
        res["CPU gather + copy"] = _timed(lambda: cpu.gather(ids), iters, True)
        del cpu
        mapped = numba_cuda().mapped_array((rows, dim), dtype=np.float32)
        mapped[:] = x
        out = torch.empty((batch, dim), device="cuda")
        res["naive zero-copy"] = _timed(lambda: naive_zero_copy(mapped, ids, out), iters, True)
        assert torch.equal(out.cpu(), torch.from_numpy(x[ids_np]))
        del mapped
        zc = FeatureStore(x, device="cuda")
        res["zero-copy (aligned, warp/row)"] = _timed(lambda: zc.gather(ids), iters, True)
        assert torch.equal(zc.gather(ids).cpu(), torch.from_numpy(x[ids_np]))
        base, peer = "zero-copy (aligned, warp/row)", "pinned copy (contiguous)"
    else:
        store = FeatureStore(x)
        ids = torch.from_numpy(ids_np)
        xt = torch.from_numpy(x)
        res["numpy fancy indexing"] = _timed(lambda: x[ids_np], iters, False)
        res["torch.index_select"] = _timed(lambda: xt.index_select(0, ids), iters, False)
        res["FeatureStore.gather (Numba)"] = _timed(lambda: store.gather(ids), iters, False)
        base, peer = "FeatureStore.gather (Numba)", "numpy fancy indexing"
    print(f"\n{rows:,} x {dim} float32, batches of {batch:,} random ids, {iters} timed batches")
    clock = "CPU time, all threads" if CPU_TIME and not cuda_available() else "wall"
    print(f"| method | ms / batch ({clock}) | GB/s |\n|---|---|---|")
    for k, t in res.items():
        print(f"| {k} | {t * 1e3:.2f} | {nbytes / t / 1e9:.1f} |")
    for k, t in res.items():
        if k != base:
            print(f"{base} vs {k}: {t / res[base]:.2f}x")
    return res, base, peer


def power_law_graph(n, avg_deg, alpha, rng):
    """Chung-Lu style undirected graph: endpoints drawn with P(v) ~ (rank(v)+1)^-alpha."""
    from native.csr import CSRGraph

    w = (np.arange(1, n + 1, dtype=np.float64)) ** (-alpha)
    w /= w.sum()
    perm = rng.permutation(n)
    m = n * avg_deg // 2
    src = perm[np.minimum(np.searchsorted(np.cumsum(w), rng.random(m)), n - 1)]
    dst = rng.integers(0, n, m)  # one endpoint by weight, one uniform: heavy-tailed degrees
    keep = src != dst
    ei = np.stack([np.concatenate([src[keep], dst[keep]]), np.concatenate([dst[keep], src[keep]])])
    return CSRGraph.from_edge_index(ei, num_nodes=n)


def bench_cache(a, rng):
    from torch_geometric.nn import GraphSAGE

    from native.gpu_sampling import GPUNeighborLoader, GPUNeighborSampler

    dev = "cuda" if cuda_available() else "cpu"
    t0 = time.perf_counter()
    g = power_law_graph(a.nodes, a.avg_degree, a.alpha, rng)
    deg = g.degree()
    print(f"\npower-law graph: {a.nodes:,} nodes, {g.num_edges:,} edges, max degree {deg.max():,} "
          f"({time.perf_counter() - t0:.1f} s); features {a.nodes:,} x {a.feat_dim}; device {dev}")
    x = rng.standard_normal((a.nodes, a.feat_dim), dtype=np.float32)
    y = torch.from_numpy((deg % 7).astype(np.int64))
    train = rng.choice(a.nodes, int(a.train_frac * a.nodes), replace=False)
    graph = g.to(dev) if dev == "cuda" else g
    cache_rows = int(a.cache_frac * a.nodes)
    print(f"{len(train):,} seeds/epoch, batch {a.batch}, fan-outs {a.fanouts}, cache {cache_rows:,} rows")
    print("| cache | hit rate | epoch s (2nd) | gathered rows/s |\n|---|---|---|---|")
    static = log_degree_score(deg)
    for name, kw in (("none", {}), ("lru", dict(cache_rows=cache_rows, policy="lru")),
                     ("hybrid", dict(cache_rows=cache_rows, static_score=static, victim_rows=cache_rows // 10))):
        store = FeatureStore(x, device=dev, **kw)
        sampler = GPUNeighborSampler(graph, [int(f) for f in a.fanouts.split(",")], seed=0)
        loader = GPUNeighborLoader(sampler, store, input_nodes=train, batch_size=a.batch, labels=y)
        model = GraphSAGE(a.feat_dim, 64, num_layers=2, out_channels=7).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        times, rows = [], 0
        for epoch in range(2):
            store.stats.reset()
            t0 = time.perf_counter()
            rows = 0
            for batch in loader:
                opt.zero_grad()
                out = model(batch.x, batch.edge_index)[: batch.batch_size]
                torch.nn.functional.cross_entropy(out, batch.y[: batch.batch_size]).backward()
                opt.step()
                rows += batch.n_id.numel()
            if dev == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        hr = store.stats.hit_rate if kw else 0.0
        print(f"| {name} | {hr:.3f} | {times[-1]:.2f} | {rows / times[-1]:,.0f} |", flush=True)
        store.close()
        del store


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small", action="store_true", help="100k rows, 10k-id batches; small cache graph")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dims", default="256,64")
    p.add_argument("--batch", type=int, default=100_000)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--cache", action="store_true", help="run part 2 (cache) too")
    p.add_argument("--cache-only", action="store_true")
    p.add_argument("--nodes", type=int, default=10_000_000)
    p.add_argument("--avg-degree", type=int, default=10)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--feat-dim", type=int, default=128)
    p.add_argument("--cache-frac", type=float, default=0.1)
    p.add_argument("--train-frac", type=float, default=0.01)
    p.add_argument("--fanouts", default="10,5")
    p.add_argument("--seed-batch", dest="batch_seeds", type=int, default=1024)
    p.add_argument("--threads", type=int, default=None, help="torch/Numba threads (default all)")
    p.add_argument("--cpu-time", action="store_true", help="time CPU gathers by process CPU time")
    a = p.parse_args(argv)
    global CPU_TIME
    CPU_TIME = a.cpu_time
    if a.small:
        a.rows, a.batch, a.iters = 100_000, 10_000, 5
        a.nodes, a.feat_dim, a.train_frac = 50_000, 64, 0.05
    if a.threads:
        from graphkit.experiments import set_threads

        set_threads(a.threads)  # torch and Numba (capped at Numba's pool), as the runners
    rng = np.random.default_rng(0)
    if not a.cache_only:
        for dim in (int(d) for d in a.dims.split(",")):
            bench_gather(a.rows, dim, a.batch, a.iters, rng)
    if a.cache or a.cache_only or a.small:
        a.batch = a.batch_seeds
        bench_cache(a, rng)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
