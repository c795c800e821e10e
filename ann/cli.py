"""The ``ann`` command: build, query, inspect and benchmark indexes.

    ann build --data base.fvecs --kind flat -o base.ann
    ann query base.ann --queries query.fvecs -k 10 -o result.ivecs
    ann info base.ann
    ann bench --dataset sift5k --kinds flat,faiss,hnswlib --plot curves.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Sequence

import numpy as np

from ann.base import known_kinds
from ann.base import load as load_index
from native.container import CorruptFileError, read_header
from native.vecio import read_vectors, write_vectors

PEERS = ("faiss", "hnswlib", "faiss-hnsw", "hnswlib-hnsw")  # exact peers, then graph peers
SWEEP_KINDS = ("hnsw", "faiss-hnsw", "hnswlib-hnsw")  # benchmarked over --efs


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    # disable=None: shown on a terminal, silent in logs and pipes
    return tqdm(total=total, desc=desc, unit="vec", unit_scale=True, disable=None if enabled else True,
                file=sys.stderr)


def _set_threads(n: int | None) -> int:
    """Use n threads in Numba, BLAS and faiss (all cores when None). Returns n."""
    import numba

    n = int(n or numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:
        pass
    return n


def _read(path: str, key: str = "train") -> np.ndarray:
    try:
        return read_vectors(path, key=key)
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"ann: cannot read {path!r}: {e}") from None


# --------------------------------------------------------------------------- build
def cmd_build(a: argparse.Namespace) -> int:
    kinds = known_kinds()
    if a.kind not in kinds:
        raise SystemExit(f"ann: unknown --kind {a.kind!r}; expected one of {sorted(kinds)}")
    X = _read(a.data, a.key)
    ids = None
    if a.ids:
        ids = _read(a.ids).reshape(-1)
        if ids.shape[0] != X.shape[0]:
            raise SystemExit(f"ann: {a.ids!r} holds {ids.shape[0]} ids for {X.shape[0]} vectors")
    _set_threads(a.threads)
    ctor, rows = _kind_inputs(a, X.shape[0])
    ctor.update(_graph_params(kinds[a.kind], a))
    if a.kind == "partitioned":  # one clustering over all vectors; posting lists on disk if asked
        a.batch_size = max(a.batch_size, X.shape[0])
        ctor.update({k: v for k, v in (("path", a.postings), ("nlist", a.nlist)) if v is not None})
    idx = kinds[a.kind](dim=X.shape[1], metric=a.metric, **ctor)
    t0 = time.perf_counter()
    with _progress(X.shape[0], f"build {a.kind}", not a.quiet) as bar:
        for s in range(0, X.shape[0], a.batch_size):
            e = min(X.shape[0], s + a.batch_size)
            idx.add(X[s:e], None if ids is None else ids[s:e].astype(np.int64), **_slice_kw(rows, s, e))
            bar.update(e - s)
    if getattr(a, "workload", None):
        print(f"{idx.partition(_lines(a.workload))} partitions from the workload {a.workload}")
    built = time.perf_counter() - t0
    nbytes = idx.save(a.output)
    print(f"built {a.kind} index of {idx.ntotal} x {idx.dim} ({idx.metric}) in {built:.2f} s; "
          f"wrote {a.output} ({nbytes / 2**20:.1f} MiB)")
    return 0


def _graph_params(cls: type, a: argparse.Namespace) -> dict[str, Any]:
    """--M / --ef-construction for the kinds whose constructor takes them (hnsw)."""
    import inspect

    names = inspect.signature(cls.__init__).parameters
    given = {"M": getattr(a, "M", None), "ef_construction": getattr(a, "ef_construction", None)}
    return {k: v for k, v in given.items() if v is not None and k in names}


def _lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return [ln.strip() for ln in f if ln.strip()]
    except OSError as e:
        raise SystemExit(f"ann: cannot read {path!r}: {e}") from None


def _slice_kw(kw: dict[str, Any], s: int, e: int) -> dict[str, Any]:
    """Per-row arguments (arrays, lists) cut to rows s:e; the others as they are."""
    cut = {k: v[s:e] if isinstance(v, (list, np.ndarray)) else v for k, v in kw.items()}
    if isinstance(kw.get("attributes"), dict):
        cut["attributes"] = {c: v[s:e] for c, v in kw["attributes"].items()}
    return cut


def _kind_inputs(a: argparse.Namespace, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Constructor and per-row add() arguments of kinds that need more than vectors:
    'tenant' (--tenants: one tenant per vector) and 'hybrid' (--attributes: an .npz of
    columns; int -> int, datetime64 -> date, strings -> category)."""
    ctor: dict[str, Any] = {}
    rows: dict[str, Any] = {}
    if getattr(a, "tenants", None):
        t = _read(a.tenants).reshape(-1).astype(np.int64)
        if t.shape[0] != n:
            raise SystemExit(f"ann: {a.tenants!r} holds {t.shape[0]} tenants for {n} vectors")
        rows["tenants"] = t
    if getattr(a, "attributes", None):
        try:
            cols = dict(np.load(a.attributes, allow_pickle=False))
        except (OSError, ValueError) as e:
            raise SystemExit(f"ann: cannot read {a.attributes!r}: {e}") from None
        kinds = {"i": "int", "u": "int", "M": "date", "U": "category", "S": "category"}
        bad = [c for c, v in cols.items() if v.dtype.kind not in kinds or v.shape != (n,)]
        if bad:
            raise SystemExit(f"ann: attribute(s) {bad} in {a.attributes!r} are not ({n},) int, datetime64 "
                             "or string columns")
        ctor["schema"] = {c: kinds[v.dtype.kind] for c, v in cols.items()}
        rows["attributes"] = cols
    return ctor, rows


# --------------------------------------------------------------------------- query
def cmd_query(a: argparse.Namespace) -> int:
    from ann.evaluate import recall_at_k

    try:
        idx = load_index(a.index)
    except (OSError, CorruptFileError) as e:
        raise SystemExit(f"ann: {e}") from None
    Q = _read(a.queries, a.key)
    _set_threads(a.threads)
    kw: dict[str, Any] = {}
    if a.device:
        kw["device"] = a.device
    if getattr(a, "ef", None) is not None:
        kw["ef"] = a.ef
    if getattr(a, "nprobe", None) is not None:
        kw["nprobe"] = a.nprobe
    if a.tenant is not None:
        kw["tenant"] = a.tenant
    if a.budget is not None:
        kw["budget"] = a.budget
    if a.predicate is not None or a.predicates:
        kw["predicates"] = a.predicate if a.predicates is None else _lines(a.predicates)
        if isinstance(kw["predicates"], list) and len(kw["predicates"]) != Q.shape[0]:
            raise SystemExit(f"ann: {a.predicates!r} holds {len(kw['predicates'])} predicates for "
                             f"{Q.shape[0]} queries")
    D = np.empty((Q.shape[0], a.k), np.float32)
    I = np.empty((Q.shape[0], a.k), np.int64)
    t0 = time.perf_counter()
    try:
        with _progress(Q.shape[0], "query", not a.quiet) as bar:
            for s in range(0, Q.shape[0], a.batch_size):
                e = min(Q.shape[0], s + a.batch_size)
                D[s:e], I[s:e] = idx.search(Q[s:e], a.k, **_slice_kw(kw, s, e))
                bar.update(e - s)
    except (ValueError, TypeError, KeyError) as e:
        raise SystemExit(f"ann: {e}") from None
    secs = time.perf_counter() - t0
    line = f"{Q.shape[0]} queries, k={a.k}: {secs:.3f} s, {Q.shape[0] / secs:,.0f} QPS"
    if a.groundtruth:
        gt = _read(a.groundtruth, "neighbors")
        line += f", recall@{a.k} = {recall_at_k(I, gt[:, : a.k]):.4f}"
    print(line)
    if a.output:
        if I.max(initial=0) > np.iinfo(np.int32).max and a.output.endswith(".ivecs"):
            raise SystemExit("ann: ids exceed int32; write .npy instead of .ivecs")
        write_vectors(a.output, I.astype(np.int32) if a.output.endswith(".ivecs") else I)
        print(f"wrote ids to {a.output}")
    if a.distances:
        write_vectors(a.distances, D)
        print(f"wrote distances to {a.distances}")
    return 0


# --------------------------------------------------------------------------- info
def cmd_info(a: argparse.Namespace) -> int:
    try:
        header = read_header(a.index)
        idx = load_index(a.index, mmap=True)
    except (OSError, CorruptFileError) as e:
        raise SystemExit(f"ann: {e}") from None
    info = {"file": a.index, "file_bytes": os.path.getsize(a.index), "kind_version": header["kind_version"]}
    info.update(idx.info())
    if a.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        width = max(map(len, info))
        for k, v in info.items():
            print(f"{k:<{width}}  {v}")
    return 0


# --------------------------------------------------------------------------- bench
def _bench_sets(a: argparse.Namespace):
    if a.dataset:
        from graphkit.datasets import load_vectors

        try:
            d = load_vectors(a.dataset)
        except ValueError as e:  # an unknown name: the known ones, no traceback
            raise SystemExit(f"ann bench: {e}") from None
        return a.dataset, d["base"], d["query"], d["groundtruth"], d.get("metric", "l2")
    if not (a.data and a.queries):
        raise SystemExit("ann bench: give --dataset NAME, or --data and --queries")
    X, Q = _read(a.data).astype(np.float32), _read(a.queries).astype(np.float32)
    gt = _read(a.groundtruth, "neighbors") if a.groundtruth else None
    return os.path.basename(a.data), X, Q, gt, a.metric or "l2"


def _peer_flat(name: str, X: np.ndarray, metric: str):
    """Exact search by a peer library, as (build_fn, search_fn)."""
    if name == "faiss":
        import faiss

        def build():
            idx = faiss.IndexFlatL2(X.shape[1]) if metric == "l2" else faiss.IndexFlatIP(X.shape[1])
            Xn = X if metric != "cosine" else X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-30)
            idx.add(np.ascontiguousarray(Xn, dtype=np.float32))
            return idx

        def search(idx, Q, k):
            if metric == "cosine":
                Q = Q / np.linalg.norm(Q, axis=1, keepdims=True).clip(1e-30)
            return idx.search(np.ascontiguousarray(Q, dtype=np.float32), k)

        return build, search
    if name == "hnswlib":
        import hnswlib

        def build():
            idx = hnswlib.BFIndex(space={"l2": "l2", "ip": "ip", "cosine": "cosine"}[metric], dim=X.shape[1])
            idx.init_index(max_elements=X.shape[0])
            idx.add_items(X)
            return idx

        def search(idx, Q, k):
            I, D = idx.knn_query(Q, k=k)
            return D, I

        return build, search
    raise SystemExit(f"ann bench: unknown peer {name!r}; peers: {PEERS}")


def _peer_graph(name: str, X: np.ndarray, metric: str, M: int, efc: int, threads: int):
    """HNSW of a peer library (hnswlib, faiss IndexHNSWFlat), as (build_fn, search_fn(idx, Q, k, ef))."""
    if name == "hnswlib-hnsw":
        import hnswlib

        def build():
            idx = hnswlib.Index(space={"l2": "l2", "ip": "ip", "cosine": "cosine"}[metric], dim=X.shape[1])
            idx.init_index(max_elements=X.shape[0], M=M, ef_construction=efc)
            idx.add_items(X, num_threads=threads)
            return idx

        def search(idx, Q, k, ef):
            idx.set_ef(max(ef, k))
            I, D = idx.knn_query(Q, k=k, num_threads=threads)
            return D, I

        return build, search
    import faiss

    def norm(A):
        return A / np.linalg.norm(A, axis=1, keepdims=True).clip(1e-30) if metric == "cosine" else A

    def fbuild():
        fm = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        idx = faiss.IndexHNSWFlat(X.shape[1], M, fm)
        idx.hnsw.efConstruction = efc
        idx.add(np.ascontiguousarray(norm(X), dtype=np.float32))
        return idx

    def fsearch(idx, Q, k, ef):
        idx.hnsw.efSearch = max(ef, k)
        return idx.search(np.ascontiguousarray(norm(Q), dtype=np.float32), k)

    return fbuild, fsearch


def cmd_bench(a: argparse.Namespace) -> int:
    from ann.evaluate import CurvePoint, plot_recall_qps, recall_at_k, time_searches
    from ann.flat import FlatIndex

    name, X, Q, gt, metric = _bench_sets(a)
    metric = a.metric or metric
    threads = _set_threads(a.threads)
    if gt is None:
        exact = FlatIndex(X.shape[1], metric)
        exact.add(X)
        gt = exact.search(Q, a.k)[1]
    kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
    ours = known_kinds()
    for k in kinds:
        if k not in ours and k not in PEERS:
            raise SystemExit(f"ann bench: unknown kind {k!r}; ours: {sorted(ours)}, peers: {list(PEERS)}")
        if k == "tenant":  # its searches need a tenant, its vectors tenants: not one shared workload
            raise SystemExit("ann bench: kind 'tenant' searches one tenant's vectors; compare it with "
                             "benchmarks/bench_tenants.py (Zipf-sized tenants, per-tenant and filtered "
                             "baselines), or build and query it with --tenants / --tenant")
    try:
        efs = [int(e) for e in a.efs.split(",") if e.strip()]
    except ValueError:
        raise SystemExit(f"ann bench: --efs must be comma-separated integers, got {a.efs!r}") from None
    M = a.M or 16
    efc = a.ef_construction or 200
    print(f"dataset {name}: base {X.shape}, queries {Q.shape}, metric {metric}, k={a.k}, threads={threads}"
          + (f", M={M}, ef_construction={efc}" if any(k in SWEEP_KINDS for k in kinds) else ""))
    runs, builds = {}, {}
    for kind in kinds:
        if kind in ours:  # load (or compile) its kernels outside the timing
            warm = ours[kind](dim=X.shape[1], metric=metric, **_graph_params(ours[kind], a))
            warm.add(X[: min(len(X), 2000)])
            warm.search(Q[:10], a.k)
        t0 = time.perf_counter()
        if kind in ours:
            idx = ours[kind](dim=X.shape[1], metric=metric, **_graph_params(ours[kind], a))
            idx.add(X)
            kw = {"device": a.device} if a.device else {}

            def run(param, idx=idx, kw=kw):
                return idx.search(Q, a.k, **kw) if param is None else idx.search(Q, a.k, ef=param, **kw)
        else:
            b, s = _peer_flat(kind, X, metric) if kind in ("faiss", "hnswlib") else \
                _peer_graph(kind, X, metric, M, efc, threads)
            pidx = b()

            def run(param, pidx=pidx, s=s):
                return s(pidx, Q, a.k) if param is None else s(pidx, Q, a.k, param)
        builds[kind] = time.perf_counter() - t0
        for param in efs if kind in SWEEP_KINDS else [None]:
            runs[kind, param] = lambda run=run, param=param: run(param)
    # every (kind, ef) timed side by side, round by round: a slow spell of a shared machine
    # falls on all of them rather than on whichever ran through it
    rows, points = [], []
    for (kind, param), t in time_searches(runs, Q.shape[0], a.repeats).items():
        rec = recall_at_k(np.asarray(t.result[1]), gt[:, : a.k], a.k)
        rows.append((kind, param, builds[kind], t.qps, rec))
        points.append(CurvePoint(kind, param, rec, t.qps))
    base_qps = rows[0][3]
    print(f"{'index':<13} {'ef':>5} {'build s':>9} {'QPS':>12} {'recall@' + str(a.k):>10} "
          f"{'QPS vs ' + rows[0][0]:>12}")
    for kind, param, build, qps, rec in rows:
        ef = "" if param is None else str(param)
        print(f"{kind:<13} {ef:>5} {build:>9.3f} {qps:>12,.0f} {rec:>10.4f} {qps / base_qps:>12.2f}")
    if a.plot:
        plot_recall_qps(points, a.plot, f"{name}: recall@{a.k} vs QPS ({threads} threads)")
        print(f"wrote {a.plot}")
    return 0


# --------------------------------------------------------------------------- parser
class _Help(argparse.HelpFormatter):
    """Appends '(default: X)' to an option's help where X says something."""

    def _get_help_string(self, action: argparse.Action) -> str:
        h = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in h:
            h += " (default: %(default)s)"
        return h


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ann",
        description="Build, query, inspect and benchmark graphkit vector indexes.",
        formatter_class=_Help,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = "vector file: .fvecs, .ivecs, .bvecs, .npy, or ann-benchmarks .hdf5/.h5"

    def graph_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--M", type=int, default=None,
                        help="--kind hnsw: links per element (2M on layer 0) (default: 16)")
        sp.add_argument("--ef-construction", type=int, default=None,
                        help="--kind hnsw: beam width while building (default: 200)")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--threads", type=int, default=None,
                        help="threads for Numba, BLAS and peers (default: all cores)")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")

    b = sub.add_parser("build", help="build an index from a vector file and save it",
                       formatter_class=_Help)
    b.add_argument("--data", required=True, help=f"base vectors ({fmt})")
    b.add_argument("--key", default="train", help="dataset inside an HDF5 file")
    b.add_argument("--kind", default="flat", help=f"index kind: {', '.join(sorted(known_kinds()))}")
    b.add_argument("--metric", default="l2", choices=["l2", "ip", "cosine"],
                   help="l2 = squared Euclidean, ip = 1 - inner product, cosine = 1 - cosine similarity")
    b.add_argument("--ids", help="optional file of one integer id per vector (.ivecs or .npy)")
    b.add_argument("--batch-size", type=int, default=100_000, help="vectors added per step")
    b.add_argument("--tenants", help="--kind tenant: file of one tenant (integer) per vector (.ivecs or .npy)")
    b.add_argument("--attributes", help="--kind hybrid: .npz of one column per attribute (int, datetime64 "
                                        "or string)")
    b.add_argument("--workload", help="--kind hybrid: text file of sample predicates, one a line, to partition by")
    graph_opts(b)
    b.add_argument("--postings", help="--kind partitioned: posting-list file (lists on disk; default: in the index file)")
    b.add_argument("--nlist", type=int, help="--kind partitioned: number of posting lists (default: n / 64)")
    b.add_argument("-o", "--output", required=True, help="index file to write")
    common(b)
    b.set_defaults(func=cmd_build)

    q = sub.add_parser("query", help="search a saved index with a file of queries",
                       formatter_class=_Help)
    q.add_argument("index", help="index file written by 'ann build'")
    q.add_argument("--queries", required=True, help=f"query vectors ({fmt})")
    q.add_argument("--key", default="test", help="dataset inside an HDF5 file")
    q.add_argument("-k", type=int, default=10, help="neighbours per query")
    q.add_argument("--groundtruth", help="exact neighbour ids (.ivecs/.npy/.hdf5 'neighbors') to report recall@k")
    q.add_argument("--device", choices=["cpu", "cuda"], help="where to search (default: the index's device)")
    q.add_argument("--batch-size", type=int, default=10_000, help="queries per step")
    q.add_argument("--ef", type=int, help="hnsw index: beam width of the search (default: 64)")
    q.add_argument("--nprobe", type=int, help="partitioned index: most posting lists probed (default: 32)")
    q.add_argument("--tenant", type=int, help="tenant index: search this tenant's vectors")
    q.add_argument("--budget", type=int, help="tenant index: vectors scanned per query")
    q.add_argument("--predicate", help="hybrid index: one predicate for all queries, e.g. \"label == 3\"")
    q.add_argument("--predicates", help="hybrid index: text file of one predicate per query")
    q.add_argument("-o", "--output", help="write result ids (.ivecs or .npy); -1 pads missing results")
    q.add_argument("--distances", help="write result distances (.fvecs or .npy)")
    common(q)
    q.set_defaults(func=cmd_query)

    i = sub.add_parser("info", help="print an index file's kind, sizes and parameters")
    i.add_argument("index", help="index file")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=cmd_info)

    be = sub.add_parser("bench", help="compare index kinds and peer libraries on one dataset",
                        formatter_class=_Help)
    be.add_argument("--dataset", help="bundled dataset: sift5k or mnist10k")
    be.add_argument("--data", help=f"base vectors instead of --dataset ({fmt})")
    be.add_argument("--queries", help="query vectors (with --data)")
    be.add_argument("--groundtruth", help="exact neighbour ids (with --data); computed if absent")
    be.add_argument("--metric", default=None, choices=["l2", "ip", "cosine"],
                    help="metric (default: the dataset's, l2 for --data)")
    be.add_argument("--kinds", default="flat,faiss,hnswlib",
                    help=f"comma-separated: our kinds ({', '.join(sorted(known_kinds()))}) and peers ({', '.join(PEERS)}); "
                         "the first is the baseline of the ratio column")
    be.add_argument("-k", type=int, default=10, help="neighbours per query")
    be.add_argument("--repeats", type=int, default=3, help="timed runs per index (best is kept)")
    be.add_argument("--device", choices=["cpu", "cuda"], help="where our indexes search")
    be.add_argument("--plot", help="write a recall-vs-QPS PNG here")
    be.add_argument("--efs", default="10,20,40,80,160,320",
                    help=f"search beam widths swept for {', '.join(SWEEP_KINDS)}")
    graph_opts(be)
    common(be)
    be.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "k", 1) is not None and getattr(args, "k", 1) < 1:
        raise SystemExit("ann: -k must be >= 1")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
