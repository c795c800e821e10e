"""Exact search: graphkit's CPU distance/top-k kernel vs faiss IndexFlatL2, same threads.

    python benchmarks/bench_flat.py                      # MNIST-10k, 1 and all threads
    python benchmarks/bench_flat.py --dataset sift5k --threads 2

Both libraries answer the same queries over the same base in one process; we report the
best of several runs for each query batch size, and the ratio of throughputs
(> 1: graphkit is faster). Two of ours: ``ann.FlatIndex.search`` (the base stored and checked
once, as faiss's index) and the function ``native.distance.knn(Q, X, k)``, which checks X
for NaN and infinity and computes its norms on every call. Absolute times drift on shared machines; the ratios are the
figures to quote.
"""

from __future__ import annotations

import argparse

import numba


def main(argv=None):
    import faiss

    import ann
    from ann.evaluate import time_searches
    from graphkit.datasets import load_vectors
    from native.distance import knn

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist10k", choices=["mnist10k", "sift5k"])
    p.add_argument("--threads", type=int, nargs="*", default=None, help="thread counts (default: 1 and all)")
    p.add_argument("--batches", type=int, nargs="*", default=[1, 10, 100, 1000])
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--plot", default=None, help="write a bar chart of the ratios (PNG)")
    a = p.parse_args(argv)

    d = load_vectors(a.dataset)
    X, Q = d["base"], d["query"]
    threads = a.threads or sorted({1, numba.config.NUMBA_NUM_THREADS})
    print(f"{a.dataset}: base {X.shape}, {Q.shape[0]} queries available, k={a.k}, best of {a.repeats}")
    print(f"{'threads':>7} {'batch':>6} {'index ms':>9} {'knn() ms':>9} {'faiss ms':>9} "
          f"{'index/faiss':>11} {'knn/faiss':>9} {'same ids':>9}")
    rows = []
    for t in threads:
        numba.set_num_threads(t)
        faiss.omp_set_num_threads(t)
        fidx = faiss.IndexFlatL2(X.shape[1])
        fidx.add(X)
        idx = ann.FlatIndex(X.shape[1])
        idx.add(X)
        for nq in a.batches:
            q = Q[:nq]
            # side by side, round by round: a slow spell of a shared machine falls on all three
            timed = time_searches({"index": lambda: idx.search(q, a.k), "knn": lambda: knn(q, X, a.k),
                                   "faiss": lambda: fidx.search(q, a.k)}, nq, a.repeats)
            (ours, (D, I)), (func, (Dk, Ik)), (theirs, (Df, If)) = (
                (timed[key].seconds, timed[key].result) for key in ("index", "knn", "faiss"))
            same = min(float((I == If).mean()), float((Ik == If).mean()))
            rows.append((t, nq, ours, theirs))
            print(f"{t:>7} {nq:>6} {ours * 1e3:>9.2f} {func * 1e3:>9.2f} {theirs * 1e3:>9.2f} "
                  f"{theirs / ours:>11.2f} {theirs / func:>9.2f} {same:>9.4f}")
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=120)
        labels = [f"{t}t/{nq}q" for t, nq, _, _ in rows]
        ax.bar(labels, [b / o for _, _, o, b in rows])
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_ylabel("faiss time / FlatIndex time")
        ax.set_title(f"exact top-{a.k} on {a.dataset} (threads/queries per batch)")
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
        fig.tight_layout()
        fig.savefig(a.plot)
        print(f"wrote {a.plot}")


if __name__ == "__main__":
    main()
