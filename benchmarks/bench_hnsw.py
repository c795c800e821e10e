"""HNSW side by side: graphkit's ann.HNSWIndex, hnswlib and faiss IndexHNSWFlat.

Same data, same M / ef_construction, same thread count, one process. Prints build time,
memory, recall@10 and QPS per ef, then the QPS of each index at equal recall (0.95 and
0.99, interpolated on log QPS between measured ef values) as a ratio to hnswlib. At each ef
the indexes are timed side by side, round by round (ann.evaluate.time_searches).

    python benchmarks/bench_hnsw.py --dataset sift5k
    python benchmarks/bench_hnsw.py --dataset mnist10k --threads 1 --plot hnsw_mnist.png
    python benchmarks/bench_hnsw.py --dataset synthetic200k --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import ann  # noqa: E402
from ann.evaluate import CurvePoint, plot_recall_qps, qps_at_recall, recall_at_k, time_searches  # noqa: E402

EFS = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384)


def clustered(n: int, nq: int, dim: int, clusters: int, seed: int = 0):
    """Gaussian mixture with unequal cluster spreads; queries drawn from the same mixture."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)).astype(np.float32) * 4.0
    spread = rng.uniform(0.5, 1.5, size=clusters).astype(np.float32)
    lab = rng.integers(0, clusters, size=n + nq)
    X = centers[lab] + rng.normal(size=(n + nq, dim)).astype(np.float32) * spread[lab, None]
    return X[:n], X[n:]


def load(name: str, k: int):
    if name == "synthetic200k":
        X, Q = clustered(200_000, 1000, 128, 1000)
        flat = ann.FlatIndex(dim=X.shape[1])
        flat.add(X)
        gt = flat.search(Q, k)[1]
        return X, Q, gt
    from graphkit.datasets import load_vectors

    d = load_vectors(name)
    return d["base"], d["query"], d["groundtruth"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="sift5k", help="sift5k, mnist10k or synthetic200k")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--M", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-faiss", action="store_true")
    p.add_argument("--cpu-time", action="store_true",
                   help="time by process CPU seconds (steadier on a loaded machine; fair with --threads 1)")
    p.add_argument("--plot", help="write a recall-vs-QPS PNG here")
    a = p.parse_args(argv)

    import hnswlib
    import numba

    numba.set_num_threads(a.threads)
    X, Q, gt = load(a.dataset, a.k)
    n, dim = X.shape
    print(f"dataset {a.dataset}: base {X.shape}, queries {Q.shape}, M={a.M}, "
          f"ef_construction={a.ef_construction}, k={a.k}, threads={a.threads}")

    clock = time.process_time if a.cpu_time else time.perf_counter
    runs = {}
    # --- ours
    ours = ann.HNSWIndex(dim=dim, M=a.M, ef_construction=a.ef_construction)
    ours.add(X[: min(n, 3000)])  # load (or compile) every kernel outside the timing
    ours = ann.HNSWIndex(dim=dim, M=a.M, ef_construction=a.ef_construction)
    t0 = clock()
    ours.add(X)
    runs["graphkit"] = (clock() - t0, ours.memory_bytes(),
                        lambda ef: (lambda: ours.search(Q, a.k, ef=ef)))
    # --- hnswlib
    h = hnswlib.Index(space="l2", dim=dim)
    t0 = clock()
    h.init_index(max_elements=n, M=a.M, ef_construction=a.ef_construction, random_seed=100)
    h.add_items(X, np.arange(n), num_threads=a.threads)
    hb = clock() - t0
    hmem = _hnswlib_bytes(ours, a.M, n, dim)

    def hsearch(ef):
        def run():
            h.set_ef(max(ef, a.k))
            return h.knn_query(Q, k=a.k, num_threads=a.threads)[::-1]
        return run

    runs["hnswlib"] = (hb, hmem, hsearch)
    # --- faiss
    if not a.no_faiss:
        import faiss

        faiss.omp_set_num_threads(a.threads)
        f = faiss.IndexHNSWFlat(dim, a.M)
        f.hnsw.efConstruction = a.ef_construction
        t0 = clock()
        f.add(X)
        fb = clock() - t0

        def fsearch(ef):
            def run():
                f.hnsw.efSearch = max(ef, a.k)
                return f.search(Q, a.k)
            return run

        fmem = n * dim * 4 + int(faiss.vector_to_array(f.hnsw.neighbors).nbytes) + \
            int(faiss.vector_to_array(f.hnsw.offsets).nbytes) + int(faiss.vector_to_array(f.hnsw.levels).nbytes)
        runs["faiss-hnsw"] = (fb, fmem, fsearch)

    # each ef: the indexes' searches timed side by side (time_searches), so that a slow spell
    # of this shared machine falls on all of them; an index leaves once it reaches 0.999
    curves = {name: [] for name in runs}
    active = list(runs)
    for ef in EFS:
        if not active:
            break
        timed = time_searches({name: runs[name][2](ef) for name in active}, Q.shape[0],
                              repeats=a.repeats, clock=clock)
        for name, t in timed.items():
            curves[name].append((recall_at_k(np.asarray(t.result[1]), gt, a.k), t.qps, ef))
        active = [name for name in active if curves[name][-1][0] < 0.999]
    print(f"\n{'index':12s} {'build s':>8s} {'MiB':>8s} {'ef':>5s} {'recall':>8s} {'QPS':>10s}")
    for name, (bt, mem, _) in runs.items():
        for r, q, ef in curves[name]:
            print(f"{name:12s} {bt:8.2f} {mem / 2**20:8.2f} {ef:5d} {r:8.4f} {q:10,.0f}")
    print(f"\nratios to hnswlib (same data, M, ef_construction, threads={a.threads}):")
    print(f"{'index':12s} {'build':>7s} {'memory':>7s} {'QPS@0.95':>9s} {'QPS@0.99':>9s}  ef reaching 0.95")
    hb, hm = runs["hnswlib"][0], runs["hnswlib"][1]
    hq = {t: qps_at_recall([(r, q) for r, q, _ in curves["hnswlib"]], t) for t in (0.95, 0.99)}
    for name, (bt, mem, _) in runs.items():
        qs = {t: qps_at_recall([(r, q) for r, q, _ in curves[name]], t) for t in (0.95, 0.99)}
        rat = {t: (f"{qs[t] / hq[t]:9.2f}" if qs[t] and hq[t] else f"{'n/a':>9s}") for t in qs}
        ef95 = next((ef for r, _, ef in curves[name] if r >= 0.95), None)
        print(f"{name:12s} {bt / hb:7.2f} {mem / hm:7.2f} {rat[0.95]} {rat[0.99]}  {ef95}")
    if a.plot:
        pts = [CurvePoint(nm, ef, r, q) for nm, c in curves.items() for r, q, ef in c]
        plot_recall_qps(pts, a.plot, f"{a.dataset}: recall@{a.k} vs QPS, {a.threads} threads")
        print(f"wrote {a.plot}")
    return 0


def _hnswlib_bytes(ours, M, n, dim):
    """hnswlib 0.8's allocation for n elements: per element one block of layer-0 links
    (2M + 1 ints), the vector and the label, a link-list pointer, its level (int) and a
    std::mutex (40 bytes); per upper level M + 1 ints. Its random levels follow the same
    law as ours, so our level counts stand in for its own."""
    lv = ours._levels[: ours._n].astype(np.int64)
    per = (2 * M + 1) * 4 + dim * 4 + 8 + 8 + 4 + 40
    return n * per + int(lv.sum()) * (M + 1) * 4


if __name__ == "__main__":
    raise SystemExit(main())
