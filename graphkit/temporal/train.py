"""Chronological training and evaluation of streaming link predictors (TGN's protocol).

A *stream model* is a ``torch.nn.Module`` with ``reset_state()``, ``set_graph(graph)``,
``forward(src, dst, t, neg_dst) -> (pos, neg)`` logits, ``observe(src, dst, t, eids)`` (after
a batch is predicted), ``extra_loss()`` (None or a scalar added to the batch loss),
``detach_state()``: :class:`~graphkit.temporal.TGN`, :class:`~graphkit.temporal.PRES`,
:class:`~graphkit.temporal.NAT` and the PyG baseline all are.

Protocol (Rossi et al. 2020; Xu et al. 2020): chronological 70/15/15 split at time
quantiles; the *inductive* part removes from training every event touching a random 10% of
the nodes that appear in validation/test, and its test set is the test events with at least
one node never seen in training; one random negative destination per event (uniform over
the stream's destination nodes); AP and AUC.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from graphkit.linkpred.metrics import auc as roc_auc  # P(pos > neg), ties one half


# --------------------------------------------------------------------------- metrics
def average_precision(pos, neg) -> float:
    """Average precision of positive vs negative scores (sklearn's step-wise definition:
    sum over distinct thresholds of (recall step) x precision)."""
    p, n = np.asarray(pos, dtype=np.float64).ravel(), np.asarray(neg, dtype=np.float64).ravel()
    if p.size == 0:
        raise ValueError("average_precision needs at least one positive score")
    scores = np.concatenate([p, n])
    labels = np.concatenate([np.ones(p.size), np.zeros(n.size)])
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # end of each tie group
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall_step = np.diff(np.r_[0.0, tp]) / p.size
    return float(np.sum(recall_step * precision))


# --------------------------------------------------------------------------- split
def link_split(graph, seed: int = 0, val_ratio: float = 0.15, test_ratio: float = 0.15,
               new_node_ratio: float = 0.1) -> dict:
    """TGN's chronological transductive + inductive split of a ``native.TemporalGraph``.

    Returns a dict: ``train`` (the training sub-stream, events of the held-out new nodes
    removed), ``val_start``, ``test_start`` (event positions in ``graph``), ``new_nodes``
    (sorted int64 ids held out), ``seen`` (bool (N,), nodes of the training stream),
    ``inductive_val`` / ``inductive_test`` (bool masks over the val / test events: at least
    one endpoint unseen in training), ``destinations`` (the stream's distinct dst ids).
    """
    train, val, test = graph.split(val_ratio, test_ratio)
    n_train, n_val = train.num_events, val.num_events
    src, dst = np.asarray(graph.src), np.asarray(graph.dst)
    later = np.unique(np.concatenate([src[n_train:], dst[n_train:]]))
    rng = np.random.default_rng(seed)
    k = int(new_node_ratio * later.size)
    new_nodes = np.sort(rng.choice(later, size=k, replace=False)) if k else np.zeros(0, np.int64)
    is_new = np.zeros(graph.num_nodes, dtype=bool)
    is_new[new_nodes] = True
    keep = ~(is_new[src[:n_train]] | is_new[dst[:n_train]])
    train = graph[np.flatnonzero(keep)]
    seen = np.zeros(graph.num_nodes, dtype=bool)
    seen[np.asarray(train.src)] = True
    seen[np.asarray(train.dst)] = True
    unseen = ~(seen[src] & seen[dst])
    return {
        "train": train, "val_start": n_train, "test_start": n_train + n_val, "new_nodes": new_nodes,
        "seen": seen, "inductive_val": unseen[n_train:n_train + n_val], "inductive_test": unseen[n_train + n_val:],
        "destinations": np.unique(dst),
    }


# --------------------------------------------------------------------------- loops
def _batch_arrays(graph, start: int, stop: int):
    return (np.asarray(graph.src[start:stop]), np.asarray(graph.dst[start:stop]),
            np.asarray(graph.t[start:stop], dtype=np.float64), np.arange(start, stop, dtype=np.int64))


def train_epoch(model, graph, batch_size: int, optimizer, destinations: np.ndarray,
                rng: np.random.Generator, loss_fn: Callable | None = None) -> dict:
    """One chronological pass over ``graph`` (the training stream), from an empty state.

    Every batch: score the events and as many random negatives, BCE (+ ``model.extra_loss()``),
    step, then ``model.observe(batch)``. Returns {'loss': mean loss, 'seconds': wall time}.
    """
    model.train()
    model.reset_state()
    model.set_graph(graph)
    losses, t0 = [], time.perf_counter()
    for start in range(0, graph.num_events, batch_size):
        stop = min(start + batch_size, graph.num_events)
        src, dst, t, eids = _batch_arrays(graph, start, stop)
        neg = destinations[rng.integers(0, destinations.size, size=src.size)]
        optimizer.zero_grad()
        pos_out, neg_out = model(src, dst, t, neg)
        loss = (F.binary_cross_entropy_with_logits(pos_out, torch.ones_like(pos_out))
                + F.binary_cross_entropy_with_logits(neg_out, torch.zeros_like(neg_out)))
        extra = model.extra_loss()
        if extra is not None:
            loss = loss + extra
        loss.backward()
        optimizer.step()
        model.observe(src, dst, t, eids)
        model.detach_state()
        losses.append(float(loss.detach()))
    return {"loss": float(np.mean(losses)) if losses else 0.0, "seconds": time.perf_counter() - t0}


@torch.no_grad()
def score_stream(model, graph, start: int, stop: int, batch_size: int, negatives: np.ndarray):
    """Scores of events ``start:stop`` of ``graph`` and of ``(src, negatives)``, batch by
    batch, the model observing each batch after scoring it (state continues from the caller's).

    Returns (pos (n,), neg (n,)) float64 numpy scores.
    """
    model.eval()
    model.set_graph(graph)
    pos, neg = [], []
    for a in range(start, stop, batch_size):
        b = min(a + batch_size, stop)
        src, dst, t, eids = _batch_arrays(graph, a, b)
        p, n = model(src, dst, t, negatives[a - start:b - start])
        pos.append(p.double().cpu().numpy())
        neg.append(n.double().cpu().numpy())
        model.observe(src, dst, t, eids)
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0))
    return cat(pos), cat(neg)


def _metrics(pos, neg, mask=None) -> dict:
    if mask is not None:
        pos, neg = pos[mask], neg[mask]
    if pos.size == 0:
        return {"ap": float("nan"), "auc": float("nan")}
    return {"ap": average_precision(pos, neg), "auc": roc_auc(pos, neg)}


def fit_link_prediction(model, graph, split: dict, epochs: int = 1, batch_size: int = 200, lr: float = 1e-4,
                        seed: int = 0, eval_batch_size: int | None = None, log: Callable | None = None,
                        patience: int | None = None) -> dict:
    """Train ``model`` on ``split['train']`` for ``epochs`` and evaluate after each epoch.

    After every epoch the state is re-built by the training pass, then validation and test
    events are scored in order (the memory keeps absorbing them). The epoch with the best
    validation AP gives the reported figures. ``patience``: stop early once that many epochs
    in a row have not improved the best validation AP (TGN's early stopping; ``epochs`` is
    then the cap), so runs that converge at different speeds (e.g. batch 200 vs 800) are
    each trained until they stop improving.

    Returns {'val': {'ap','auc'}, 'test': {...}, 'inductive_test': {...}, 'epoch_seconds':
    [...], 'best_epoch': int, 'epochs_run': int}.
    """
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be >= 1 (or None), got {patience}")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    eval_bs = eval_batch_size or batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = graph.num_events
    neg_rng = np.random.default_rng(seed + 10_000)
    dests = split["destinations"]
    eval_neg = dests[neg_rng.integers(0, dests.size, size=n - split["val_start"])]
    best, times = None, []
    for epoch in range(epochs):
        info = train_epoch(model, split["train"], batch_size, optimizer, dests, rng)
        times.append(info["seconds"])
        # the training pass left the state after the (filtered) training stream
        pos, neg = score_stream(model, graph, split["val_start"], n, eval_bs, eval_neg)
        nv = split["test_start"] - split["val_start"]
        res = {"val": _metrics(pos[:nv], neg[:nv]), "test": _metrics(pos[nv:], neg[nv:]),
               "inductive_val": _metrics(pos[:nv], neg[:nv], split["inductive_val"]),
               "inductive_test": _metrics(pos[nv:], neg[nv:], split["inductive_test"]),
               "epoch": epoch, "loss": info["loss"]}
        if log:
            log(f"epoch {epoch}: loss {info['loss']:.4f} {info['seconds']:.1f}s val AP {res['val']['ap']:.4f} "
                f"test AP {res['test']['ap']:.4f} inductive test AP {res['inductive_test']['ap']:.4f}")
        if best is None or res["val"]["ap"] > best["val"]["ap"]:
            best = res
        elif patience is not None and epoch - best["epoch"] >= patience:
            break
    best["epoch_seconds"] = times
    best["epochs_run"] = len(times)
    best["best_epoch"] = best.pop("epoch")
    return best
