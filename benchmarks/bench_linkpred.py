"""Link-prediction benchmarks: topological concentration, TC vs per-node performance, and
ANN retrieval + NCNC re-ranking against exhaustive scoring.

    python benchmarks/bench_linkpred.py tc            # exact TC vs ATC on BlogCatalog (+ Cora)
    python benchmarks/bench_linkpred.py tc-perf       # TC vs per-node Hits@100 of NCN on Cora, PNG
    python benchmarks/bench_linkpred.py retrieval     # HNSW + NCNC re-rank vs exhaustive, BlogCatalog
    python benchmarks/bench_linkpred.py synthetic     # per-query timing on a 1M-node random graph

Every section prints a table; figures are quoted as ratios (ours / reference).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _blogcatalog():
    from graphkit.datasets import load_blogcatalog

    d = load_blogcatalog()
    return torch.from_numpy(d["edge_index"]), d["num_nodes"]


def bench_tc(args):
    from graphkit.datasets import load_planetoid
    from graphkit.linkpred import approximate_topological_concentration, link_graph, spearman, topological_concentration

    print(f"{'graph':12s} {'hops':>4s} {'nodes':>7s} {'exact s':>9s} {'ATC s':>8s} {'speed-up':>9s} {'Spearman':>9s}")
    cora = load_planetoid("cora")
    graphs = [("cora", torch.from_numpy(cora.edge_index), cora.num_nodes), ("blogcatalog", *_blogcatalog())]
    for name, ei, n in graphs:
        g = link_graph(ei, n)
        for hops in (1, 2):
            rng = np.random.default_rng(0)
            # exact TC on a uniform sample of nodes (all of them for hops=1), timed per node
            sample = np.arange(n) if hops == 1 or n <= 5000 else np.sort(rng.choice(n, args.tc_sample, replace=False))
            topological_concentration(g, hops=hops, nodes=torch.tensor(sample[:2]))  # compile
            t0 = time.perf_counter()
            tc = topological_concentration(g, hops=hops, nodes=torch.from_numpy(sample))
            t_exact = (time.perf_counter() - t0) * n / sample.size
            approximate_topological_concentration(ei, n, hops=hops, dim=8)
            t0 = time.perf_counter()
            atc = approximate_topological_concentration(ei, n, hops=hops, dim=args.atc_dim)
            t_atc = time.perf_counter() - t0
            rho = spearman(tc, atc[torch.from_numpy(sample)])
            extra = "" if sample.size == n else f" (exact extrapolated from {sample.size} nodes)"
            print(f"{name:12s} {hops:4d} {n:7d} {t_exact:9.2f} {t_atc:8.3f} {t_exact / t_atc:8.1f}x {rho:9.3f}{extra}")


def _train(model, x, split, epochs, batch_size, lr=0.003):
    from graphkit.linkpred import fit

    return fit(model, x, split, epochs=epochs, batch_size=batch_size, lr=lr, eval_every=epochs, seed=0)


def bench_tc_perf(args):
    from graphkit.experiments.link_prediction import HPARAMS, build_model, load
    from graphkit.linkpred import link_graph, per_node_hits, score_pairs, spearman, topological_concentration
    from graphkit.linkpred.splits import to_undirected

    x, ei, n = load("cora")
    from graphkit.linkpred import random_link_split

    split = random_link_split(ei, n, seed=0)
    model = build_model("ncn", x.shape[1], HPARAMS["cora"])
    res = _train(model, x, split, args.epochs, 1152)
    model.load_state_dict(res["state"])
    model.eval()
    train_ei = to_undirected(split["train_pos"])
    g = link_graph(train_ei, n)
    with torch.no_grad():
        h = model.encode(x, train_ei)
        pos = score_pairs(model, h, g, split["test_pos"])
        neg = score_pairs(model, h, g, split["test_neg"])
    perf = per_node_hits(split["test_pos"], pos, neg, n, k=100)
    print(f"NCN on Cora ({args.epochs} epochs): test Hits@100 {100 * res['test']['hits@100']:.2f}")
    print(f"{'hops':>4s} {'Spearman(TC, per-node Hits@100)':>32s} {'nodes':>6s}")
    tcs = {}
    for hops in (1, 2):
        tc = topological_concentration(g, hops=hops)
        tcs[hops] = tc
        ok = torch.isfinite(perf) & torch.isfinite(tc)
        print(f"{hops:4d} {spearman(tc[ok], perf[ok]):32.3f} {int(ok.sum()):6d}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    tc = tcs[1]
    ok = torch.isfinite(perf) & torch.isfinite(tc)
    t, p = tc[ok].numpy(), perf[ok].numpy()
    # one bar for TC = 0, then the quartiles of the positive values
    edges = np.quantile(t[t > 0], np.linspace(0, 1, 5))
    bins = np.where(t > 0, 1 + np.clip(np.searchsorted(edges, t, side="right") - 1, 0, 3), 0)
    labels = ["0"] + [f"{edges[b]:.2f}-{edges[b + 1]:.2f}" for b in range(4)]
    means = [p[bins == b].mean() if (bins == b).any() else 0.0 for b in range(5)]
    for b in range(5):
        print(f"TC bin {labels[b]:>10s}: {int((bins == b).sum()):4d} nodes, mean per-node Hits@100 {means[b]:.3f}")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(range(5), means)
    ax.set_xticks(range(5), labels, rotation=20)
    ax.set_xlabel("topological concentration (1 hop): 0, then quartiles")
    ax.set_ylabel("per-node test Hits@100")
    ax.set_title("NCN on Cora: performance vs TC")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"wrote {args.plot}")


def _ints(text):
    return [int(v) for v in str(text).split(",") if v.strip()]


def _identity(n):
    idx = torch.arange(n)
    return torch.sparse_coo_tensor(torch.stack([idx, idx]), torch.ones(n), (n, n))


def bench_retrieval(args):
    from graphkit.linkpred import (NCN, NCNC, CandidateReranker, exhaustive_top_k, random_link_split,
                                   recall_at_k)
    from graphkit.linkpred.splits import to_undirected

    ei, n = _blogcatalog()
    split = random_link_split(ei, n, seed=0)
    x = _identity(n)
    torch.manual_seed(0)
    ncn = NCN(n, args.hidden, input_dropout=0.0, dropout=0.1, predictor_dropout=0.1)
    t0 = time.perf_counter()
    res = _train(ncn, x, split, args.epochs, args.batch_size, lr=0.003)
    ncn.load_state_dict(res["state"])
    print(f"NCN on BlogCatalog ({args.epochs} epochs, {time.perf_counter() - t0:.0f} s): "
          f"test Hits@100 {100 * res['test']['hits@100']:.2f}, AUC {100 * res['test']['auc']:.2f}")
    # NCNC re-ranker completing common neighbours with the trained NCN's probabilities
    model = NCNC.from_ncn(ncn, eval_max_completion=args.completion).eval()
    train_ei = to_undirected(split["train_pos"])
    test = split["test_pos"]
    rng = np.random.default_rng(0)
    ends = np.unique(test.numpy().reshape(-1))
    queries = torch.from_numpy(np.sort(rng.choice(ends, args.queries, replace=False)))
    rr = CandidateReranker(model, num_candidates=1, M=16, ef_construction=100).fit(x, train_ei, n)
    h = rr.h
    t0 = time.perf_counter()
    _, ex_ids = exhaustive_top_k(model, h, rr.graph, queries, k=100)
    t_ex = time.perf_counter() - t0
    h_ex = recall_at_k(ex_ids, queries, test)
    print(f"BlogCatalog: {n} nodes, {args.queries} query nodes with held-out links, candidates C = {args.candidates}")
    print(f"{'method':30s} {'C':>5s} {'per-node Hits@100':>18s} {'ratio':>6s} {'cand. recall':>12s} {'scoring s':>10s} "
          f"{'speed-up':>9s} {'build s':>8s}")
    print(f"{'exhaustive NCNC (N-1)':30s} {n - 1:5d} {100 * h_ex:18.2f} {1:6.2f} {'':>12s} {t_ex:10.2f} {1:8.1f}x {'':>8s}")
    for source in args.sources.split(","):
        for emb in (args.embeddings.split(",") if source != "two_hop" else ["model"]):
            name = {"hnsw": f"HNSW({emb}, {args.metric})", "two_hop": f"two-hop({args.heuristic})",
                    "mixed": f"{args.two_hop_share:g} two-hop+HNSW({emb})"}[source]
            for c in _ints(args.candidates):
                rr = CandidateReranker(model, num_candidates=c, M=16, ef_construction=100, embedding=emb,
                                       metric=args.metric, source=source, heuristic=args.heuristic,
                                       two_hop_share=args.two_hop_share).fit(x, train_ei, n, h=h)
                r_cand = recall_at_k(rr.candidates(queries), queries, test)
                _, rr_ids = rr.recommend(queries, k=100)
                t_rr = rr.timings["search_s"] + rr.timings["rerank_s"]
                h_rr = recall_at_k(rr_ids, queries, test)
                print(f"{name + ' + NCNC':30s} {c:5d} {100 * h_rr:18.2f} {h_rr / h_ex:6.2f} "
                      f"{100 * r_cand:11.2f}% {t_rr:10.2f} {t_ex / t_rr:8.1f}x {rr.timings['index_s']:8.1f}",
                      flush=True)


def bench_synthetic(args):
    """Per-query timing on a random 1M-node graph: retrieval + re-rank vs exhaustive scoring."""
    from graphkit.linkpred import NCNC, CandidateReranker
    from graphkit.linkpred.retrieval import _score_grid

    n, d = args.nodes, 16
    rng = np.random.default_rng(0)
    # a graph with local structure: every node links to 5 nodes among the next 64 ids (ring)
    src = np.repeat(np.arange(n), 5)
    dst = (src + rng.integers(1, 64, src.size)) % n
    ei = torch.from_numpy(np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])]))
    x = torch.from_numpy(rng.standard_normal((n, d)).astype(np.float32))
    torch.manual_seed(0)
    model = NCNC(d, 32, input_dropout=0.0, eval_max_completion=args.completion).eval()
    c = _ints(args.candidates)[0]
    t0 = time.perf_counter()
    rr = CandidateReranker(model, num_candidates=c, M=8, ef_construction=args.ef_construction, source="mixed",
                           heuristic=args.heuristic, two_hop_share=args.two_hop_share).fit(x, ei, n)
    t_fit = time.perf_counter() - t0
    q = torch.from_numpy(rng.choice(n, args.queries, replace=False))
    # exhaustive: score a sample of pairs per query, scale to all N - 1 candidates
    sample = 20000
    cand = torch.from_numpy(rng.integers(0, n, (1, sample)))
    t0 = time.perf_counter()
    _score_grid(model, rr.h, rr.graph, q[:1], cand, 65536)
    t_ex = (time.perf_counter() - t0) * (n - 1) / sample
    print(f"synthetic graph: {n} nodes, {ei.shape[1] // 2} edges; embed + CSR {rr.timings['encode_s']:.1f} s, "
          f"HNSW build {rr.timings['index_s']:.1f} s (once)")
    print(f"{'per query node':28s} {'search s':>10s} {'re-rank s':>10s} {'speed-up':>9s}")
    print(f"{'exhaustive NCNC (extrap.)':28s} {'':>10s} {t_ex:10.4f} {1:8.1f}x")
    for source in args.sources.split(","):
        rr.source = source  # the one index serves 'hnsw' and 'mixed'; 'two_hop' needs none
        rr.recommend(q, k=min(100, c))
        t_s, t_r = rr.timings["search_s"] / args.queries, rr.timings["rerank_s"] / args.queries
        print(f"{source + ' + NCNC re-rank':28s} {t_s:10.4f} {t_r:10.4f} {t_ex / (t_s + t_r):8.1f}x")
    print(f"(C = {c}, {args.queries} queries; exhaustive timed on {sample} pairs; fit {t_fit:.0f} s)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("section", choices=("tc", "tc-perf", "retrieval", "synthetic"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--candidates", default="300", help="C per query node; comma-separated to compare several")
    p.add_argument("--embeddings", default="model,structure,both", help="index vectors compared in 'retrieval'")
    p.add_argument("--sources", default="hnsw,two_hop,mixed", help="candidate sources compared in 'retrieval'")
    p.add_argument("--heuristic", default="ra", choices=("cn", "aa", "ra"), help="ranking of two-hop candidates")
    p.add_argument("--two-hop-share", type=float, default=0.75, help="two-hop share of C with source 'mixed'")
    p.add_argument("--metric", default="cosine", choices=("cosine", "ip", "l2"), help="index metric in 'retrieval'")
    p.add_argument("--batch-size", type=int, default=4096, help="training batch size in 'retrieval'")
    p.add_argument("--completion", type=int, default=4, help="NCNC completion candidates per side (evaluation)")
    p.add_argument("--tc-sample", type=int, default=500)
    p.add_argument("--atc-dim", type=int, default=128)
    p.add_argument("--nodes", type=int, default=1_000_000)
    p.add_argument("--ef-construction", type=int, default=32)
    p.add_argument("--plot", default="tc_vs_hits.png")
    args = p.parse_args()
    from graphkit.experiments import set_threads

    set_threads(args.threads)
    {"tc": bench_tc, "tc-perf": bench_tc_perf, "retrieval": bench_retrieval, "synthetic": bench_synthetic}[args.section](args)


if __name__ == "__main__":
    main()
