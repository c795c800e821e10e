"""Training and evaluation loops for the link predictors of :mod:`graphkit.linkpred`.

Every model exposes ``encode(x, edge_index, edge_weight=None) -> h`` and
``score(h, graph, pairs) -> logits``. Training follows the NCN reference protocol:
mini-batches of training edges, as many uniformly drawn negative pairs, binary
cross-entropy, and *target link removal*: the batch's own edges are taken out of the graph
the model sees while it predicts them (the test links are never in the graph either).
The checkpoint with the best validation metric gives the reported test figures.
"""

from __future__ import annotations

import copy
import time

import torch

from graphkit.linkpred.metrics import evaluate
from graphkit.linkpred.ncn import link_loss
from graphkit.linkpred.neighbors import link_graph
from graphkit.linkpred.splits import to_undirected


@torch.no_grad()
def score_pairs(model, h, graph, pairs: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """(B,) logits of ``pairs`` (2, B), in chunks of ``batch_size``."""
    out = [model.score(h, graph, pairs[:, i:i + batch_size]) for i in range(0, pairs.shape[1], batch_size)]
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def evaluate_split(model, x, split: dict, edge_weight=None, ks=(20, 50, 100), parts=("val", "test")) -> dict:
    """Metrics (Hits@K, MRR, AUC) of ``model`` on the split's val/test pairs.

    The input graph is the training edges. Returns {'val': {...}, 'test': {...}}.
    """
    model.eval()
    n = split["num_nodes"]
    ei = to_undirected(split["train_pos"]).to(x.device)
    h = model.encode(x, ei, edge_weight)
    g = link_graph(ei, n)
    out = {}
    for part in parts:
        pos = score_pairs(model, h, g, split[f"{part}_pos"].to(x.device))
        neg = score_pairs(model, h, g, split[f"{part}_neg"].to(x.device))
        out[part] = evaluate(pos, neg, ks)
    return out


def _drop_pairs(pairs: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    if p <= 0:
        return pairs
    keep = torch.rand(pairs.shape[1], generator=gen) >= p
    return pairs[:, keep.to(pairs.device)]


def train_epoch(model, x, train_pos: torch.Tensor, num_nodes: int, optimizer, batch_size: int = 1024,
                target_link_removal: bool = True, gen: torch.Generator | None = None,
                edge_weight_fn=None) -> float:
    """One pass over the training edges; returns the mean loss.

    Args:
        train_pos: (2, M) undirected training pairs. edge_weight_fn: optional callable
            (edge_index (2, E)) -> (E,) weights for message passing (TC reweighting).
    """
    model.train()
    gen = gen or torch.Generator().manual_seed(0)
    m = train_pos.shape[1]
    perm = torch.randperm(m, generator=gen)
    total, batches = 0.0, 0
    for i in range(0, m, batch_size):
        idx = perm[i:i + batch_size]
        if target_link_removal:
            keep = torch.ones(m, dtype=torch.bool)
            keep[idx] = False
            visible = train_pos[:, keep.to(train_pos.device)]
        else:
            visible = train_pos
        ei = to_undirected(visible)
        cn_ei = to_undirected(_drop_pairs(visible, getattr(model, "cn_edge_dropout", 0.0), gen))
        pos = train_pos[:, idx.to(train_pos.device)]
        neg = torch.randint(0, num_nodes, (2, idx.numel()), generator=gen).to(train_pos.device)
        optimizer.zero_grad()
        ew = edge_weight_fn(ei) if edge_weight_fn is not None else None
        h = model.encode(x, ei, ew)
        g = link_graph(cn_ei, num_nodes)
        loss = link_loss(model.score(h, g, pos), model.score(h, g, neg))
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        batches += 1
    return total / max(batches, 1)


def fit(model, x, split: dict, epochs: int = 100, batch_size: int = 1024, lr: float = 0.01,
        encoder_lr: float | None = None, weight_decay: float = 0.0, target_link_removal: bool = True,
        select_by: str = "hits@100", eval_every: int = 1, seed: int = 0, edge_weight_fn=None,
        log=None) -> dict:
    """Train ``model`` on ``split`` and return the test metrics at the best validation epoch.

    Args:
        model: NCN, NCNC or GAE. x: (N, F) features (dense or sparse COO).
        split: from :func:`random_link_split`.
        epochs, batch_size: of training. lr: predictor learning rate (encoder_lr: the
            encoder's, default lr). weight_decay: Adam's.
        target_link_removal: drop each batch's edges from its input graph.
        select_by: validation metric of model selection. eval_every: epochs between evaluations.
        seed: of the batches and negatives. edge_weight_fn: see :func:`train_epoch`.
        log: optional callable(str) for progress lines.

    Returns:
        dict: 'val', 'test' (metric dicts at the best epoch), 'best_epoch', 'seconds',
        'state' (the best state_dict).
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if hasattr(model, "generator"):
        model.generator = torch.Generator().manual_seed(seed + 1)
    enc = list(model.encoder.parameters())
    enc_ids = {id(p) for p in enc}
    rest = [p for p in model.parameters() if id(p) not in enc_ids]
    opt = torch.optim.Adam([{"params": enc, "lr": encoder_lr or lr}, {"params": rest, "lr": lr}],
                           weight_decay=weight_decay)
    train_pos = split["train_pos"].to(x.device)
    ew_eval = None
    if edge_weight_fn is not None:
        ew_eval = edge_weight_fn(to_undirected(train_pos))
    best, best_val, t0 = None, -1.0, time.perf_counter()
    for epoch in range(1, epochs + 1):
        loss = train_epoch(model, x, train_pos, split["num_nodes"], opt, batch_size, target_link_removal,
                           gen, edge_weight_fn)
        if epoch % eval_every and epoch != epochs:
            continue
        res = evaluate_split(model, x, split, ew_eval)
        if res["val"][select_by] > best_val:
            best_val = res["val"][select_by]
            best = {"val": res["val"], "test": res["test"], "best_epoch": epoch,
                    "state": copy.deepcopy(model.state_dict())}
        if log is not None:
            log(f"epoch {epoch:3d} loss {loss:.4f} val {select_by} {res['val'][select_by]:.4f} "
                f"test {select_by} {res['test'][select_by]:.4f}")
    best["seconds"] = time.perf_counter() - t0
    return best
