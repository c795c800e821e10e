"""Link-prediction runner: NCN / NCNC, GCN / SAGE autoencoders and heuristics on one protocol.

    python -m graphkit.experiments.link_prediction --dataset Cora --model ncnc --seeds 0 1 2
    python -m graphkit.experiments.link_prediction --dataset USAir --model ncn,cn,aa,ra --metric auc

Protocol: a random split of the undirected edges per seed, sampled non-edges of the whole
graph as negatives. Planetoid graphs (``--split ncn``, their default): the NCN reference
code's split, 70/10/20 with as many test negatives as test positives and twice as many
validation negatives as validation positives (PyG's train_test_split_edges at 60/20/20, then
half of the validation positives moved into training). SEAL graphs (``--split 85-5-10``,
their default): 85/5/10 with as many negatives as positives. The input graph is the
training edges; the checkpoint with the best validation Hits@100 (AUC for the SEAL graphs)
gives the test figures. Prints mean +- std over seeds, in percent.

Datasets: Cora, CiteSeer, PubMed (bundled Planetoid; PubMed's bundle has features for only
1,060 of 19,717 nodes, so its x is mostly zero rows), and the SEAL graphs USAir, NS, PB,
Yeast, Celegans, Power (no features: x is the identity, i.e. a learned embedding per node).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from graphkit.experiments import deterministic, environment, restores_threads, set_threads, write_json

PLANETOID = ("cora", "citeseer", "pubmed")
SEAL = ("usair", "ns", "pb", "yeast", "celegans", "power")
MODELS = ("ncn", "ncnc", "gcn", "sage", "cn", "aa", "ra")

# Per-dataset settings of NCN / NCNC, after the reference code's published commands
# (GraphPKU/NeuralCommonNeighbor README; hiddim, mplayers, xdp -> input_dropout, gnndp ->
# dropout, tdp -> tail_dropout, predp -> predictor_dropout, preedp -> cn_edge_dropout, prelr
# -> lr, gnnlr -> encoder_lr, alpha / pt / probscale / proboffset; the Planetoid commands set
# no trndeg / tstdeg, i.e. every completion candidate is used: max_completion -1; --use_xlin
# -> xlin; --twolayerlin -> scorer_layers 2).
_PLANETOID_NCN = dict(hidden=256, mp_layers=1, max_completion=-1, eval_max_completion=-1, xlin=True, scorer_layers=1)
HPARAMS = {
    "cora": dict(_PLANETOID_NCN, dropout=0.05, input_dropout=0.7, tail_dropout=0.3, predictor_dropout=0.05,
                 cn_edge_dropout=0.4, lr=0.0024, encoder_lr=0.0043, batch_size=1152,
                 alpha=1.0, pt=0.75, scale=4.3, offset=2.8),
    "citeseer": dict(_PLANETOID_NCN, dropout=0.75, input_dropout=0.4, tail_dropout=0.0, predictor_dropout=0.55,
                     cn_edge_dropout=0.0, lr=0.0078, encoder_lr=0.0085, batch_size=384,
                     alpha=0.4, pt=0.75, scale=6.5, offset=4.4, scorer_layers=2),
    "pubmed": dict(_PLANETOID_NCN, dropout=0.1, input_dropout=0.3, tail_dropout=0.0, predictor_dropout=0.05,
                   cn_edge_dropout=0.0, lr=0.002, encoder_lr=0.0097, batch_size=2048,
                   alpha=0.3, pt=0.5, scale=5.3, offset=0.5),
    "seal": dict(hidden=128, mp_layers=1, dropout=0.1, input_dropout=0.0, tail_dropout=0.0,
                 predictor_dropout=0.1, cn_edge_dropout=0.0, lr=0.003, encoder_lr=0.003, batch_size=512,
                 alpha=1.0, pt=0.5, scale=5.0, offset=3.0, max_completion=8, eval_max_completion=128),
}

# Edge splits: (val_ratio, test_ratio, validation negatives per validation positive).
SPLITS = {"ncn": (0.10, 0.20, 2.0), "85-5-10": (0.05, 0.10, 1.0)}


def check_dataset(name: str) -> str:
    """The lower-case key of a bundled dataset's name (any case); ValueError naming the known ones."""
    key = name.lower()
    if key not in PLANETOID + SEAL:
        raise ValueError(f"dataset must be one of {PLANETOID + SEAL} (any case), got {name!r}")
    return key


def load(name: str):
    """(x (N, F) float32, sparse where sparse pays; edge_index (2, E); N) of a bundled dataset."""
    from graphkit.datasets import load_planetoid, load_seal

    key = check_dataset(name)
    if key in PLANETOID:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PubMed's partial-feature warning is in the docs
            d = load_planetoid(key)
        x = torch.from_numpy(d.x).to_sparse()
        return x, torch.from_numpy(d.edge_index), d.num_nodes
    if key in SEAL:
        d = load_seal(name)
        n = d["num_nodes"]
        idx = torch.arange(n)
        x = torch.sparse_coo_tensor(torch.stack([idx, idx]), torch.ones(n), (n, n), is_coalesced=True,
                                    check_invariants=False)
        return x, torch.from_numpy(d["edge_index"]), n


def run_heuristic(name: str, split: dict) -> dict:
    """Metrics of a heuristic on the split's val/test pairs (graph: training edges)."""
    from graphkit.linkpred import heuristic, link_graph, evaluate
    from graphkit.linkpred.splits import to_undirected

    g = link_graph(to_undirected(split["train_pos"]), split["num_nodes"])
    return {part: evaluate(heuristic(name, g, split[f"{part}_pos"]), heuristic(name, g, split[f"{part}_neg"]))
            for part in ("val", "test")}


def build_model(model: str, in_channels: int, hp: dict, decoder: str = "mlp"):
    from graphkit.linkpred import GAE, NCN, NCNC

    common = dict(hidden_channels=hp["hidden"], mp_layers=hp["mp_layers"], dropout=hp["dropout"],
                  input_dropout=hp["input_dropout"], predictor_dropout=hp["predictor_dropout"],
                  cn_edge_dropout=hp["cn_edge_dropout"], tail_dropout=hp.get("tail_dropout", 0.0),
                  xlin=hp.get("xlin", False), scorer_layers=hp.get("scorer_layers", 1))
    if model == "ncn":
        return NCN(in_channels, **common)
    if model == "ncnc":
        return NCNC(in_channels, **common, alpha=hp["alpha"], pt=hp["pt"], scale=hp["scale"], offset=hp["offset"],
                    max_completion=hp.get("max_completion", 8), eval_max_completion=hp.get("eval_max_completion", 128))
    return GAE(in_channels, hp["hidden"], num_layers=2, kind=model, decoder=decoder, dropout=0.5)


def run(dataset: str, model: str, seed: int, epochs: int, decoder: str = "mlp", select_by: str = "hits@100",
        eval_every: int = 1, verbose: bool = False, batch_size: int | None = None,
        tc_reweight: float = 0.0, split: str | None = None) -> dict:
    """One seed of one model on one dataset: {'val': {...}, 'test': {...}, 'seconds': s}.

    ``tc_reweight`` > 0 weights message passing by :func:`graphkit.linkpred.tc_edge_weights`
    with that strength (TC of the training graph). ``split``: a key of :data:`SPLITS`
    (default 'ncn' for Planetoid graphs, '85-5-10' otherwise).
    """
    from graphkit.linkpred import fit, random_link_split

    x, ei, n = load(dataset)
    val_ratio, test_ratio, val_neg_ratio = SPLITS[split or ("ncn" if dataset.lower() in PLANETOID else "85-5-10")]
    split = random_link_split(ei, n, val_ratio, test_ratio, seed=seed, val_neg_ratio=val_neg_ratio)
    t0 = time.perf_counter()
    if model in ("cn", "aa", "ra"):
        res = run_heuristic(model, split)
    else:
        key = dataset.lower()
        hp = HPARAMS[key if key in PLANETOID else "seal"]
        torch.manual_seed(seed)
        m = build_model(model, x.shape[1], hp, decoder)
        gae = model in ("gcn", "sage")
        weight_fn = None
        if tc_reweight > 0:
            from graphkit.linkpred import tc_edge_weights, topological_concentration
            from graphkit.linkpred.splits import to_undirected

            tc = topological_concentration(to_undirected(split["train_pos"]), n)

            def weight_fn(edge_index):
                return tc_edge_weights(edge_index, tc, tc_reweight)
        res = fit(m, x, split, epochs=epochs, batch_size=batch_size or hp["batch_size"], lr=0.01 if gae else hp["lr"],
                  encoder_lr=None if gae else hp["encoder_lr"], target_link_removal=not gae,
                  select_by=select_by, eval_every=eval_every, seed=seed, edge_weight_fn=weight_fn,
                  log=(lambda s: print(s, file=sys.stderr)) if verbose else None)
        res.pop("state", None)
    res["seconds"] = time.perf_counter() - t0
    return res


def summarize(rows: list[dict], metrics) -> dict:
    """{metric: (mean %, std %)} over seeds of the test metrics."""
    return {k: (100 * float(np.mean([r["test"][k] for r in rows])), 100 * float(np.std([r["test"][k] for r in rows])))
            for k in metrics}


@restores_threads
@deterministic
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m graphkit.experiments.link_prediction", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="Cora", help="Cora, CiteSeer, PubMed, USAir, NS, PB, Yeast, Celegans, Power (comma list)")
    p.add_argument("--model", default="ncnc", help=f"comma list of {', '.join(MODELS)}")
    p.add_argument("--decoder", default="mlp", choices=("dot", "mlp"), help="decoder of the gcn/sage baselines")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=None, help="training batch size (default: per dataset)")
    p.add_argument("--metric", default=None, help="model-selection metric (default hits@100; auc for SEAL graphs)")
    p.add_argument("--tc-reweight", type=float, default=0.0,
                   help="strength of TC-based edge reweighting in message passing (0: off)")
    p.add_argument("--split", default=None, choices=tuple(SPLITS),
                   help="edge split (default: ncn for Planetoid graphs, 85-5-10 for the SEAL graphs)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--json", default=None, help="write every per-seed result, keyed dataset/model, with the "
                   "arguments and the environment (versions, threads, CPU) to this file")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    set_threads(a.threads)
    datasets = [d.strip() for d in a.dataset.split(",") if d.strip()]
    try:  # an unknown name is a usage error, before any training
        for d in datasets:
            check_dataset(d)
    except ValueError as e:
        p.error(f"--{e}")
    models = [m.strip().lower() for m in a.model.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            p.error(f"--model must be among {MODELS}, got {m!r}")
    metrics = ("hits@20", "hits@50", "hits@100", "mrr", "auc")
    all_rows = {}
    print(f"{'dataset':10s} {'model':8s} " + " ".join(f"{m:>14s}" for m in metrics) + f" {'s/seed':>8s}")
    for d in datasets:
        seal = d.lower() in SEAL
        for m in models:
            rows = [run(d, m, s, a.epochs, a.decoder, a.metric or ("auc" if seal else "hits@100"),
                        a.eval_every, a.verbose, a.batch_size, a.tc_reweight, a.split) for s in a.seeds]
            all_rows[f"{d}/{m}"] = rows
            summ = summarize(rows, metrics)
            name = m if m not in ("gcn", "sage") else f"{m}-{a.decoder}"
            name += "+tc" if a.tc_reweight > 0 and m not in ("cn", "aa", "ra") else ""
            print(f"{d:10s} {name:8s} " + " ".join(f"{summ[k][0]:6.2f} +- {summ[k][1]:4.2f}" for k in metrics)
                  + f" {np.mean([r['seconds'] for r in rows]):8.1f}", flush=True)
    if a.json:
        write_json(a.json, {"arguments": vars(a), "environment": environment(), "results": all_rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
