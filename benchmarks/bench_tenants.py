"""Multi-tenant search: ann.TenantIndex (Curator) vs per-tenant HNSW, one shared HNSW with a
tenant filter (as ``search`` runs it: an exact scan of a small tenant's vectors, else the walk;
and the walk alone, hnswlib's way), and faiss IVF with an id selector, all in one process with
the same threads.

    python benchmarks/bench_tenants.py                       # MNIST-10k and a 200k synthetic set
    python benchmarks/bench_tenants.py --sets mnist10k --tenants 128 --threads 2

Tenants: ``--tenants`` tenants with Zipf(1) popularity; every vector belongs to one tenant
drawn by popularity, and ``--shared`` of them to a second one too. Each query is given a
tenant uniformly at random; the ground truth is the exact top-k among that tenant's
vectors. Queries are answered tenant by tenant (one batch call per tenant) by every method.
For each method we sweep its search knob, keep the best of ``--repeats`` timings per point
(points slower than 2 s a batch: one timing after the warm-up),
and interpolate QPS at recall@k = ``--target`` (log QPS linear in recall between the two
points around it). With one thread (the default) times are the process's CPU time, which
other processes on a shared machine barely disturb. Memory is what each index holds, vectors included; the reference for
the memory ratio is the single shared HNSW index.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np


def zipf_tenants(n, T, shared, rng):
    p = 1.0 / np.arange(1, T + 1)
    p /= p.sum()
    first = rng.choice(T, n, p=p)
    second = rng.choice(T, n, p=p)
    two = (rng.random(n) < shared) & (second != first)
    return [[a, b] if s else [a] for a, b, s in zip(first.tolist(), second.tolist(), two.tolist())]


def synthetic(n, nq, d, rng):
    """Gaussian mixture of 256 clusters (the usual stand-in for embedding data)."""
    centers = rng.normal(size=(256, d)).astype(np.float32) * 4
    a = rng.integers(0, 256, n + nq)
    X = centers[a] + rng.normal(size=(n + nq, d)).astype(np.float32)
    return X[:n].astype(np.float32), X[n:].astype(np.float32)


CLOCK = time.perf_counter  # time.process_time with one thread (set in main)


def best_time(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = CLOCK()
        out = fn()
        best = min(best, CLOCK() - t0)
    return best, out


def run_set(name, X, Q, a, rng):
    import faiss

    import ann
    from ann.evaluate import qps_at_recall, recall_at_k

    n, dim, k = X.shape[0], X.shape[1], a.k
    tenants = zipf_tenants(n, a.tenants, a.shared, rng)
    members = [[] for _ in range(a.tenants)]
    for i, ts in enumerate(tenants):
        for t in ts:
            members[t].append(i)
    members = [np.array(m, np.int64) for m in members]
    live = [t for t in range(a.tenants) if members[t].size]
    qt = rng.choice(live, Q.shape[0])
    groups = [(t, np.flatnonzero(qt == t)) for t in np.unique(qt).tolist()]
    sizes = np.array([m.size for m in members])
    print(f"\n== {name}: base {X.shape}, {Q.shape[0]} queries, {len(live)} tenants (sizes max {sizes.max()}, "
          f"median {int(np.median(sizes))}, min {sizes.min()}), {sum(map(len, tenants))} grants, k={k}, "
          f"threads={numba.get_num_threads()}")

    gt = np.full((Q.shape[0], k), -1, np.int64)
    for t, qs in groups:
        f = ann.FlatIndex(dim)
        f.add(X[members[t]], ids=members[t])
        gt[qs] = f.search(Q[qs], k)[1]

    def by_tenant(search_one):
        def run():
            I = np.full((Q.shape[0], k), -1, np.int64)
            for t, qs in groups:
                I[qs] = search_one(t, Q[qs])
            return I
        return run

    results = {}  # method -> (memory, build s, [(knob, recall, qps)])

    def sweep(method, knobs, make_search, memory, build):
        pts = []
        for kn in knobs:
            run = by_tenant(make_search(kn))
            warm, I = best_time(run, 1)  # warm-up (compilation, lazy structures)
            if warm < 2.0:  # slow points (seconds per batch) are timed once, by the warm-up
                secs, I = best_time(run, a.repeats)
            else:
                secs = warm
            pts.append((kn, recall_at_k(I, gt, k), Q.shape[0] / secs))
            print(f"  {method} {kn}: recall {pts[-1][1]:.4f}, {pts[-1][2]:,.0f} QPS", flush=True)
        results[method] = (memory, build, pts)

    # ours
    t0 = time.perf_counter()
    cur = ann.TenantIndex(dim)
    cur.add(X, tenants=tenants)
    cur.rebuild()
    build = time.perf_counter() - t0
    sweep("TenantIndex (ours)", a.budgets,
          lambda b: (lambda t, q: cur.search(q, k, tenant=t, budget=b)[1]),
          None, build)
    results["TenantIndex (ours)"] = (cur.memory_bytes(),) + results["TenantIndex (ours)"][1:]

    # one shared HNSW with a tenant filter
    t0 = time.perf_counter()
    shared = ann.HNSWIndex(dim, M=a.M, ef_construction=a.ef_construction)
    shared.add(X)
    build = time.perf_counter() - t0
    masks = {}
    for t, _ in groups:
        m = np.zeros(n, bool)
        m[members[t]] = True
        masks[t] = m
    sweep("shared HNSW + filter (ours)", a.efs,  # small tenants: an exact scan of theirs
          lambda ef: (lambda t, q: shared.search(q, k, filter=masks[t], ef=ef)[1]),
          shared.memory_bytes(), build)
    sweep("shared HNSW, walk only (ours)", a.efs,  # the filter inside the walk (hnswlib's way)
          lambda ef: (lambda t, q: shared.search(q, k, filter=masks[t], ef=ef, exact_below=0)[1]),
          shared.memory_bytes(), build)

    # one HNSW per tenant
    t0 = time.perf_counter()
    per = {}
    for t in live:
        h = ann.HNSWIndex(dim, M=a.M, ef_construction=a.ef_construction)
        h.add(X[members[t]], ids=members[t])
        per[t] = h
    build = time.perf_counter() - t0
    sweep("HNSW per tenant (ours)", a.efs,
          lambda ef: (lambda t, q: per[t].search(q, k, ef=ef)[1]),
          sum(h.memory_bytes() for h in per.values()), build)
    used = sum(sum(x.nbytes for x in h._state()[1].values()) + h.ids.nbytes for h in per.values())
    print(f"  HNSW per tenant: {used / 2**20:.1f} MiB in use without growth slack "
          f"({used / shared.memory_bytes():.2f}x the shared index)", flush=True)

    # faiss IVF with an id selector
    t0 = time.perf_counter()
    nlist = int(4 * np.sqrt(n))
    quant = faiss.IndexFlatL2(dim)
    ivf = faiss.IndexIVFFlat(quant, dim, nlist)
    ivf.train(X[rng.choice(n, min(n, 50 * nlist), replace=False)])
    ivf.add(X)
    sels = {t: faiss.IDSelectorBatch(members[t]) for t, _ in groups}
    build = time.perf_counter() - t0
    ivf_mem = n * dim * 4 + n * 8 + nlist * dim * 4

    def ivf_search(nprobe):
        def one(t, q):
            params = faiss.SearchParametersIVF(sel=sels[t], nprobe=nprobe)
            return ivf.search(q, k, params=params)[1]
        return one

    sweep("faiss IVF + IDSelectorBatch", sorted({min(p, nlist) for p in a.nprobes}), ivf_search, ivf_mem, build)

    ref_mem = results["shared HNSW + filter (ours)"][0]
    ref_qps = qps_at_recall([(r, q) for _, r, q in results["HNSW per tenant (ours)"][2]], a.target)
    print(f"{'method':<30} {'knob':>6} {'recall@' + str(k):>9} {'QPS':>10}")
    for m, (_, _, pts) in results.items():
        for kn, r, q in pts:
            print(f"{m:<30} {kn:>6} {r:>9.4f} {q:>10,.0f}")
    print(f"\n{'method':<30} {'memory MiB':>11} {'mem / shared':>13} {'build s':>8} "
          f"{'QPS@' + str(a.target):>10} {'QPS / per-tenant':>17}")
    summary = {}
    for m, (mem, build, pts) in results.items():
        q = qps_at_recall([(r, q) for _, r, q in pts], a.target)
        summary[m] = (mem / ref_mem, None if q is None or ref_qps is None else q / ref_qps)
        qs = "n/a" if q is None else f"{q:,.0f}"
        rs = "n/a" if summary[m][1] is None else f"{summary[m][1]:.2f}"
        print(f"{m:<30} {mem / 2**20:>11.1f} {mem / ref_mem:>13.2f} {build:>8.1f} {qs:>10} {rs:>17}")
    return summary


def main(argv=None):
    import faiss

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", default="mnist10k,synthetic200k")
    p.add_argument("--tenants", type=int, default=128)
    p.add_argument("--shared", type=float, default=0.1, help="fraction of vectors with a second tenant")
    p.add_argument("--threads", type=int, default=1, help="threads for every method (1: CPU-time clock)")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--target", type=float, default=0.9)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--M", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=100)
    p.add_argument("--budgets", type=int, nargs="*", default=[8, 16, 32, 64, 128, 256, 512, 1024])
    p.add_argument("--efs", type=int, nargs="*", default=[10, 16, 32, 64, 128])
    p.add_argument("--nprobes", type=int, nargs="*", default=[8, 32, 64, 128, 256, 512, 1024])
    p.add_argument("--synthetic-n", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    global CLOCK
    threads = a.threads
    if threads == 1:  # CPU time of this process: robust to other processes on a shared machine
        CLOCK = time.process_time
    numba.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    rng = np.random.default_rng(a.seed)
    for name in a.sets.split(","):
        if name == "mnist10k":
            from graphkit.datasets import load_vectors

            d = load_vectors("mnist10k")
            X, Q = d["base"], d["query"]
        else:
            X, Q = synthetic(a.synthetic_n, 1000, 64, rng)
            name = f"synthetic{a.synthetic_n // 1000}k (d=64)"
        run_set(name, X, Q, a, rng)


if __name__ == "__main__":
    main()
