"""Neighbour-sampling throughput: GPUNeighborSampler (torch ops, CUDA when there is one) vs the
CPU samplers, same fan-outs, same seed batches, one script.

Peers: PyG's ``NeighborLoader`` on the CPU (when pyg-lib or torch-sparse is installed; it
refuses to sample without one) and ``native.sampling.sample_neighbors`` (Numba, all
threads). Throughput is sampled edges per second over whole epochs of seed batches
(``--batches`` of ``--batch`` seeds); the table gives the ratio to each peer.

    python benchmarks/bench_gpu_sampling.py                          # 10M-node power-law graph
    python benchmarks/bench_gpu_sampling.py --dataset blogcatalog    # a bundled graph
    python benchmarks/bench_gpu_sampling.py --small                  # CPU-sized
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from bench_feature_store import power_law_graph  # noqa: E402
from native.csr import CSRGraph  # noqa: E402
from native.device import cuda_available  # noqa: E402
from native.gpu_sampling import GPUNeighborSampler  # noqa: E402
from native.sampling import sample_neighbors  # noqa: E402


def load_graph(a, rng):
    if a.dataset == "blogcatalog":
        from graphkit.datasets import load_blogcatalog

        d = load_blogcatalog()
        return CSRGraph.from_edge_index(d["edge_index"], num_nodes=d["num_nodes"])
    if a.dataset in ("cora", "citeseer", "pubmed"):
        from graphkit.datasets import load_planetoid

        d = load_planetoid(a.dataset)
        return CSRGraph.from_edge_index(d.edge_index, num_nodes=d.num_nodes)
    return power_law_graph(a.nodes, a.avg_degree, a.alpha, rng)


def run(name, fn, batches, sync):
    fn(batches[0])  # warm-up / compile
    sync()
    t0 = time.perf_counter()
    edges = 0
    for b in batches:
        edges += fn(b)
    sync()
    dt = time.perf_counter() - t0
    print(f"| {name} | {dt:.3f} | {edges / dt:,.0f} | {len(batches) * len(batches[0]) / dt:,.0f} |", flush=True)
    return edges / dt


def pyg_loader_fn(g, fanouts):
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader

    ei = torch.from_numpy(np.stack([g.indices.astype(np.int64), np.repeat(np.arange(g.num_nodes), np.diff(g.indptr))]))
    data = Data(edge_index=ei, num_nodes=g.num_nodes)  # flip: PyG samples incoming edges = our CSR rows

    def fn(seeds):
        loader = NeighborLoader(data, num_neighbors=fanouts, input_nodes=torch.from_numpy(seeds),
                                batch_size=len(seeds), shuffle=False)
        return int(next(iter(loader)).edge_index.shape[1])

    fn(np.arange(4))  # raises ImportError without pyg-lib / torch-sparse
    return fn


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small", action="store_true", help="200k-node graph, 10 batches")
    p.add_argument("--dataset", choices=["synthetic", "blogcatalog", "cora", "citeseer", "pubmed"], default="synthetic")
    p.add_argument("--nodes", type=int, default=10_000_000)
    p.add_argument("--avg-degree", type=int, default=20)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--fanouts", default="15,10")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--batches", type=int, default=50)
    p.add_argument("--threads", type=int, default=None, help="CPU threads of the peers (default all)")
    a = p.parse_args(argv)
    if a.small:
        a.nodes, a.batches = 200_000, 10
    if a.threads:
        from graphkit.experiments import set_threads

        set_threads(a.threads)  # torch and Numba (capped at Numba's pool), as the runners
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    g = load_graph(a, rng)
    fanouts = [int(f) for f in a.fanouts.split(",")]
    n = g.num_nodes
    batches = [rng.choice(n, min(a.batch, n), replace=False) for _ in range(a.batches)]
    dev = "cuda" if cuda_available() else "cpu"
    print(f"graph: {n:,} nodes, {g.num_edges:,} edges ({time.perf_counter() - t0:.1f} s); fan-outs {fanouts}; "
          f"{a.batches} batches of {a.batch} seeds; ours on {dev}; {torch.get_num_threads()} CPU threads")
    print("| sampler | s | sampled edges/s | seeds/s |\n|---|---|---|---|")

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    gs = GPUNeighborSampler(g.to(dev) if dev == "cuda" else g, fanouts, seed=0)
    dev_batches = [torch.from_numpy(b).to(dev) for b in batches]
    ours = run(f"GPUNeighborSampler ({dev})", lambda b: int(gs.sample(b).e_id.numel()), dev_batches, sync)
    numba_rate = run("native.sampling.sample_neighbors (Numba CPU)",
                     lambda b: int(sample_neighbors(g, b, fanouts, seed=0).row.shape[0]), batches, lambda: None)
    print(f"\nGPUNeighborSampler vs Numba CPU sampler: {ours / numba_rate:.2f}x")
    try:
        fn = pyg_loader_fn(g, fanouts)
    except ImportError as exc:
        print(f"PyG NeighborLoader (CPU) not run: {exc}")
        return 0
    pyg_rate = run("PyG NeighborLoader (CPU)", fn, batches, lambda: None)
    print(f"GPUNeighborSampler vs PyG NeighborLoader (CPU): {ours / pyg_rate:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
