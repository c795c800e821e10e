"""Partitioned (SPANN-style) index beside faiss IndexIVFFlat: build, recall/QPS, memory.

Same data, same number of lists, same training sample and iterations, same thread count,
one process. Ours keeps its posting lists on disk (a memory-mapped file) and only the
centroids, navigator, tables and ids in RAM. Prints the posting-length distribution,
build time, recall@10 and QPS per nprobe, QPS at equal recall as a ratio to faiss,
filtered search beside faiss's IDSelector (``--filters``), and the resident memory of a
fresh process that loads the index and answers the queries.

    python benchmarks/bench_partitioned.py --dataset mnist10k --threads 2
    python benchmarks/bench_partitioned.py --dataset synthetic1m --nlist 4096 --threads 2

Scratch files (posting file, index, queries) go to --workdir (default /tmp/bench_partitioned).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import ann  # noqa: E402
from ann.evaluate import CurvePoint, plot_recall_qps, qps_at_recall, recall_at_k, time_searches  # noqa: E402
from ann.partitioned import PartitionedIndex, resident_memory  # noqa: E402

NPROBES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
TARGETS = (0.90, 0.95)


def gaussian_mixture(n: int, nq: int, dim: int, clusters: int = 2000, seed: int = 7):
    """n + nq points of a mixture whose components have their own scale along a random
    8-dimensional subspace plus isotropic noise; generated in chunks (float32 throughout)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 3.0, size=(clusters, dim)).astype(np.float32)
    basis = rng.normal(0.0, 1.0, size=(clusters, 8, dim)).astype(np.float32) / np.sqrt(8)
    scale = rng.uniform(0.5, 2.0, size=clusters).astype(np.float32)
    out = np.empty((n + nq, dim), np.float32)
    for s in range(0, n + nq, 100_000):
        m = min(n + nq, s + 100_000) - s
        c = rng.integers(0, clusters, size=m)
        z = rng.standard_normal((m, 8), dtype=np.float32) * scale[c, None]
        out[s: s + m] = means[c] + np.einsum("mi,mid->md", z, basis[c]) \
            + 0.3 * rng.standard_normal((m, dim), dtype=np.float32)
    return out[:n], out[n:]


def load_data(name: str, k: int):
    if name.startswith("synthetic"):
        n = {"synthetic1m": 1_000_000, "synthetic100k": 100_000}[name]
        X, Q = gaussian_mixture(n, 1000, 64)
        t0 = time.perf_counter()
        flat = ann.FlatIndex(dim=X.shape[1])
        flat.add(X)
        gt = flat.search(Q, k)[1]
        print(f"ground truth by exact search: {time.perf_counter() - t0:.1f} s")
        return X, Q, gt
    from graphkit.datasets import load_vectors

    d = load_vectors(name)
    return d["base"], d["query"], d["groundtruth"]


def mib(b: float) -> str:
    return f"{b / 2**20:9.1f}"


def rss_child(a) -> None:
    """In a fresh process: RSS before/after loading the index and after answering queries."""
    import tempfile

    Q = np.load(a.queries)
    # warm the kernels (Numba cache, HNSW) on a tiny disk index so that compile memory and
    # library code are not counted against the index
    with tempfile.TemporaryDirectory() as tmp:
        w = PartitionedIndex(Q.shape[1], path=os.path.join(tmp, "w.postings"), list_size=8)
        w.add(np.random.default_rng(0).normal(size=(256, Q.shape[1])).astype(np.float32))
        w.search(Q[:16], 10, nprobe=4)
        del w
    try:  # reset the peak-RSS counter (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    rows = {"before load": resident_memory()}
    t0 = time.perf_counter()
    idx = ann.load(a.rss_child)
    rows["after load"] = resident_memory()
    load_s = time.perf_counter() - t0
    idx.search(Q, 10, nprobe=a.nprobe)
    rows["after queries"] = resident_memory()
    print(json.dumps({"rows": rows, "load_s": load_s, "memory_bytes": idx.memory_bytes(),
                      "disk_bytes": idx.disk_bytes()}))


def filtered(a, ours, ivf, X, Q, clock) -> None:
    """Filtered search: a random allow-list of a fraction of the ids, the same for every
    query. Ours probes the nearest lists holding an allowed vector (all of them when they
    cover it with at most 2 * nprobe lists: exact); faiss's IDSelector skips disallowed
    vectors inside the nearest nprobe lists. Recall against the exact filtered top-k."""
    import faiss

    rng = np.random.default_rng(0)
    n = X.shape[0]
    flat = ann.FlatIndex(X.shape[1])
    flat.add(X)
    print(f"\nfiltered search (random allow-list, one per run; ours reads='pread')")
    print(f"{'allowed':>9} {'nprobe':>6} | {'ours recall':>11} {'QPS':>9} | {'faiss recall':>12} {'QPS':>9} "
          f"| {'QPS ours/faiss':>14}")
    for frac in a.filters:
        allowed = np.flatnonzero(rng.random(n) < frac)
        mask = np.zeros(n, bool)
        mask[allowed] = True
        truth = flat.search(Q, a.k, filter=mask)[1]
        sel = faiss.IDSelectorBatch(allowed.astype(np.int64))
        for npb in (8, 32):
            params = faiss.SearchParametersIVF(sel=sel, nprobe=min(npb, ivf.nlist))
            to, tf = time_searches({"ours": lambda: ours.search(Q, a.k, nprobe=npb, filter=mask),
                                    "faiss": lambda: ivf.search(Q, a.k, params=params)},
                                   len(Q), a.repeats, clock=clock).values()
            ro = recall_at_k(to.result[1], truth)
            rf = recall_at_k(tf.result[1], truth)
            print(f"{allowed.size:>9} {npb:>6} | {ro:>11.4f} {to.qps:>9,.0f} | {rf:>12.4f} {tf.qps:>9,.0f} "
                  f"| {to.qps / tf.qps:>14.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist10k", help="mnist10k, sift5k, synthetic100k, synthetic1m")
    p.add_argument("--nlist", type=int, default=None, help="lists (default: ours from list_size)")
    p.add_argument("--list-size", type=int, default=64)
    p.add_argument("--replicas", type=int, default=4)
    p.add_argument("--closure-eps", type=float, default=0.1)
    p.add_argument("--train-size", type=int, default=None, help="clustering sample, both libraries")
    p.add_argument("--iters", type=int, default=10, help="k-means iterations, both libraries")
    p.add_argument("--page-budget", type=int, default=2 << 20, help="bytes of lists read per search chunk")
    p.add_argument("--navigator", default="auto", choices=["auto", "hnsw", "flat"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--workdir", default="/tmp/bench_partitioned")
    p.add_argument("--plot", default=None)
    p.add_argument("--filters", type=float, nargs="*", default=[0.003, 0.01, 0.05, 0.2],
                   help="allowed fractions for the filtered-search table (none: skip it)")
    p.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--queries", default=None, help=argparse.SUPPRESS)
    p.add_argument("--nprobe", type=int, default=16, help=argparse.SUPPRESS)
    a = p.parse_args()

    import faiss
    import numba

    numba.set_num_threads(min(a.threads, numba.config.NUMBA_NUM_THREADS))
    faiss.omp_set_num_threads(a.threads)
    if a.rss_child:
        return rss_child(a)
    os.makedirs(a.workdir, exist_ok=True)
    X, Q, gt = load_data(a.dataset, a.k)
    n, dim = X.shape
    raw = X.nbytes
    print(f"dataset {a.dataset}: base {X.shape} ({raw / 2**20:.0f} MiB raw), queries {Q.shape}, "
          f"k={a.k}, threads={a.threads}")

    post = os.path.join(a.workdir, f"{a.dataset}.postings")
    t0 = time.perf_counter()
    ours = PartitionedIndex(dim, path=post, nlist=a.nlist, list_size=a.list_size,
                            replicas=a.replicas, closure_eps=a.closure_eps,
                            train_size=a.train_size, kmeans_iters=a.iters,
                            page_budget=a.page_budget, navigator=a.navigator)
    ours.add(X)
    t_ours = time.perf_counter() - t0
    nlist = ours.nlist
    st = ours.posting_stats()
    print(f"\nposting lists ({nlist}): " + ", ".join(
        f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in st.items() if k != "lists"))

    t0 = time.perf_counter()
    quant = faiss.IndexFlatL2(dim)
    ivf = faiss.IndexIVFFlat(quant, dim, nlist)
    ivf.cp.niter = a.iters
    ts = a.train_size or n
    ivf.cp.max_points_per_centroid = max(1, -(-ts // nlist))
    ivf.train(X)
    t_train = time.perf_counter() - t0
    ivf.add(X)
    t_faiss = time.perf_counter() - t0
    print(f"\n{'build':<28} {'seconds':>9} {'vs faiss':>9}")
    print(f"{'faiss IVFFlat train + add':<28} {t_faiss:>9.2f} {1.0:>9.2f}   (train {t_train:.2f})")
    print(f"{'ours (cluster+assign+write)':<28} {t_ours:>9.2f} {t_ours / t_faiss:>9.2f}")

    # ours twice: 'pread' reads each chunk's lists into a bounded buffer (RAM stays small);
    # 'mmap' scans the mapped file (its pages stay resident: in-memory speed)
    # one thread: CPU seconds of this process (steady on a shared machine; reads from the
    # page cache are system time and count; waits for a cold disk would not)
    clock = time.process_time if a.threads == 1 else time.perf_counter
    print(f"\nQPS from {'CPU time of this process' if a.threads == 1 else 'wall clock'}")
    names = ("ours pread", "ours mmap", "faiss IVFFlat")
    curves = {n: [] for n in names}
    print(f"\n{'nprobe':>6} | {'pread recall':>12} {'QPS':>8} | {'mmap QPS':>8} | {'faiss recall':>12} {'QPS':>8} "
          f"| {'pread/faiss':>11} {'mmap/faiss':>10}")
    points = []
    for npb in NPROBES:
        if npb > nlist:
            break
        ivf.nprobe = npb

        def ours_with(reads, npb=npb):
            def run():
                ours.reads = reads
                return ours.search(Q, a.k, nprobe=npb)
            return run

        tp, tm, tf = time_searches({"pread": ours_with("pread"), "mmap": ours_with("mmap"),
                                    "faiss": lambda: ivf.search(Q, a.k)}, len(Q), a.repeats, clock=clock).values()
        assert np.array_equal(tp.result[1], tm.result[1])
        ro = recall_at_k(tp.result[1], gt[:, : a.k])
        rf = recall_at_k(tf.result[1], gt[:, : a.k])
        for name, r, t in zip(names, (ro, ro, rf), (tp, tm, tf)):
            curves[name].append((r, t.qps))
            points.append(CurvePoint(name, npb, r, t.qps))
        print(f"{npb:>6} | {ro:>12.4f} {tp.qps:>8,.0f} | {tm.qps:>8,.0f} | {rf:>12.4f} {tf.qps:>8,.0f} "
              f"| {tp.qps / tf.qps:>11.2f} {tm.qps / tf.qps:>10.2f}")
    ours.reads = "pread"

    print(f"\n{'recall@' + str(a.k):>9} | {'pread QPS':>10} | {'mmap QPS':>10} | {'faiss QPS':>10} "
          f"| {'pread/faiss':>11} | {'mmap/faiss':>10}")
    fmt = lambda v: f"{v:>10,.0f}" if v else f"{'never':>10}"  # noqa: E731
    for tgt in TARGETS:
        qp, qm, qf = (qps_at_recall(curves[n], tgt) for n in names)
        r1 = f"{qp / qf:>11.2f}" if qp and qf else f"{'-':>11}"
        r2 = f"{qm / qf:>10.2f}" if qm and qf else f"{'-':>10}"
        print(f"{tgt:>9.2f} | {fmt(qp)} | {fmt(qm)} | {fmt(qf)} | {r1} | {r2}")

    if a.filters:
        filtered(a, ours, ivf, X, Q, clock)

    # memory: a fresh process loads the index and answers the queries at the nprobe that
    # first reaches recall 0.90
    npb = next((p.param for p in points if p.name == "ours pread" and p.recall >= 0.90), 16)
    idx_path = os.path.join(a.workdir, f"{a.dataset}.ann")
    q_path = os.path.join(a.workdir, f"{a.dataset}.queries.npy")
    ours.save(idx_path)
    np.save(q_path, Q)
    out = subprocess.run([sys.executable, __file__, "--rss-child", idx_path, "--queries", q_path,
                          "--nprobe", str(npb), "--threads", str(a.threads)],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    rows, base = r["rows"], r["rows"]["before load"]
    print(f"\nresident memory of a fresh process (MiB; raw vectors {raw / 2**20:.1f} MiB; "
          f"nprobe {npb}; load {r['load_s']:.2f} s)")
    print(f"{'phase':<14} {'VmRSS':>9} {'RssAnon':>9} {'RssFile':>9} {'VmHWM':>9} {'RSS-before':>10} {'% raw':>7}")
    for name, m in rows.items():
        d = m.get("VmRSS", 0) - base.get("VmRSS", 0)
        print(f"{name:<14} {mib(m.get('VmRSS', 0))} {mib(m.get('RssAnon', 0))} {mib(m.get('RssFile', 0))} "
              f"{mib(m.get('VmHWM', 0))} {mib(d):>10} {100 * d / raw:>6.1f}%")
    peak = rows["after queries"].get("VmHWM", 0) - base.get("VmRSS", 0)
    print(f"peak during load + queries minus before: {peak / 2**20:.1f} MiB = {100 * peak / raw:.1f}% of raw; "
          f"index arrays in RAM (memory_bytes) {r['memory_bytes'] / 2**20:.1f} MiB = "
          f"{100 * r['memory_bytes'] / raw:.1f}%; posting file {r['disk_bytes'] / 2**20:.1f} MiB")
    from native.device import cuda_available

    print("GPU batch path: " + ("available (not timed here)" if cuda_available()
                                else "skipped: no CUDA device (unverified on a GPU)"))
    if a.plot:
        plot_recall_qps(points, a.plot, f"{a.dataset}: recall@{a.k} vs QPS ({a.threads} threads)")
        print(f"wrote {a.plot}")


if __name__ == "__main__":
    main()
