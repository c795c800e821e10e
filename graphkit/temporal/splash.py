"""SPLASH: feature augmentation, automatic feature selection and a lightweight MLP temporal
model for edge streams without node features (dynamic node classification).

After SPLASH (*Simple yet effective temporal node property prediction on feature-less
streams*: augment, select, then a light model): a stream such as JODIE Wikipedia (as
bundled: no features at all) gives a model nothing to read but ids and times. SPLASH

1. *augments* every node with one of three kinds of features computed online from the
   stream (each event sees only earlier events): ``'random'`` (a fixed Gaussian vector per
   node), ``'positional'`` (a time-decayed random projection of the node's adjacency row:
   ``P_u(t) = sum_{(u,w,t') before t} exp(-(t-t')/tau) R_w``, similar neighbourhoods giving
   similar vectors) and ``'structural'`` (decayed degrees at three time scales, degree,
   recency, mean inter-event gap);
2. *selects* the augmentation automatically: a short training of the model on the first
   80% of the training stream per candidate, AUROC on the last 20%, the best one kept;
3. trains **SLIM**, a light MLP model: for a query (node u, time t) the node's own
   augmented features and its k most recent neighbours' (their features as of those events,
   with the time encoding of ``t - t_j``), each neighbour through an MLP, mean-pooled,
   concatenated with u's own, then an MLP classifier.

Dynamic node classification follows JODIE: each event's label is the state change (ban) of
its user after the event; AUROC, the standard anomaly-style metric for the ~0.14% positives.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from graphkit.temporal._kernels import NUM_STRUCTURAL, stream_features
from graphkit.temporal.tgn import TimeEncoder
from graphkit.temporal.train import roc_auc

AUGMENTATIONS = ("random", "positional", "structural")


class SLIM(nn.Module):
    """SPLASH's lightweight MLP temporal model.

    Args:
        in_dim: augmented feature width F. time_dim (16), hidden (64), dropout (0.1).
    Shapes: ``x`` (B, F) own features; ``x_nbr`` (B, k, F) neighbours' features; ``dt``
        (B, k) time since each neighbour event; ``mask`` (B, k) bool -> (B,) logits.
    """

    def __init__(self, in_dim: int, time_dim: int = 16, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.time_enc = TimeEncoder(time_dim, init="geometric")
        self.nbr_mlp = nn.Sequential(nn.Linear(in_dim + time_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                     nn.Linear(hidden, hidden))
        self.out = nn.Sequential(nn.Linear(in_dim + hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, 1))

    def forward(self, x, x_nbr, dt, mask):
        h = self.nbr_mlp(torch.cat([self.norm(x_nbr), self.time_enc(dt)], -1))
        m = mask.float().unsqueeze(-1)
        h = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.out(torch.cat([self.norm(x), h], -1)).squeeze(-1)


class SPLASH:
    """Feature augmentation + automatic selection + SLIM, for dynamic node classification.

    Args:
        graph: ``native.TemporalGraph`` with ``edge_label`` (E,) 0/1: the label of each
            event's source node after the event (JODIE's state change).
        feature_dim: width of the random / positional features (32).
        num_neighbors: k (10). hidden: SLIM width (64). tau: positional decay scale in time
            units (default: the stream's span / 100). candidates: augmentations to select from.
        seed: of the random vectors, the initialisation and the batches.

    Raises:
        ValueError: no ``edge_label``, an unknown augmentation, non-positive sizes.
    """

    def __init__(self, graph, feature_dim: int = 32, num_neighbors: int = 10, hidden: int = 64,
                 tau: float | None = None, candidates=AUGMENTATIONS, seed: int = 0) -> None:
        if graph.edge_label is None:
            raise ValueError("SPLASH needs per-event node labels: the graph has no edge_label")
        for name, v in (("feature_dim", feature_dim), ("num_neighbors", num_neighbors), ("hidden", hidden)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        bad = [c for c in candidates if c not in AUGMENTATIONS]
        if bad or not candidates:
            raise ValueError(f"candidates must be a non-empty subset of {AUGMENTATIONS}, got {tuple(candidates)!r}")
        self.graph, self.feature_dim, self.num_neighbors, self.hidden = graph, feature_dim, num_neighbors, hidden
        self.candidates, self.seed = tuple(candidates), seed
        self.src = np.asarray(graph.src)
        self.dst = np.asarray(graph.dst)
        self.t = np.asarray(graph.t, dtype=np.float64)
        self.labels = (np.asarray(graph.edge_label) > 0)
        span = float(self.t[-1] - self.t[0]) if self.t.size else 1.0
        self.tau = float(tau) if tau is not None else max(span / 100.0, 1e-9)
        if self.tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau!r}")
        rng = np.random.default_rng(seed)
        self.R = (rng.standard_normal((graph.num_nodes, feature_dim)) / np.sqrt(feature_dim)).astype(np.float32)
        self._aug = {}
        nb = graph.most_recent_neighbors(self.src, self.t, num_neighbors, strict=True)
        self.nbr_eid = np.asarray(nb.event_ids)
        self.mask = self.nbr_eid >= 0
        e = np.maximum(self.nbr_eid, 0)
        # the neighbour is the other endpoint of each neighbour event: side 1 if u was its src
        self.nbr_side = np.where(self.src[e] == self.src[:, None], 1, 0)
        self.nbr_dt = np.where(self.mask, self.t[:, None] - self.t[e], 0.0).astype(np.float32)
        self.kind = None
        self.model = None

    def augment(self, kind: str) -> np.ndarray:
        """(E, 2, F) float32 features of both endpoints of every event, as of just before it."""
        if kind not in AUGMENTATIONS:
            raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, got {kind!r}")
        if kind not in self._aug:
            if kind == "random":
                self._aug[kind] = np.stack([self.R[self.src], self.R[self.dst]], 1)
            else:
                taus = np.array([self.tau / 10, self.tau, self.tau * 10])
                pos, st = stream_features(self.src, self.dst, self.t, self.R, self.tau, taus)
                self._aug["positional"], self._aug["structural"] = pos, st
        return self._aug[kind]

    def _inputs(self, feats: np.ndarray, events: np.ndarray):
        x = torch.from_numpy(feats[events, 0])
        e = np.maximum(self.nbr_eid[events], 0)
        x_nbr = torch.from_numpy(feats[e, self.nbr_side[events]])
        return x, x_nbr, torch.from_numpy(self.nbr_dt[events]), torch.from_numpy(self.mask[events])

    def _train(self, kind: str, events: np.ndarray, epochs: int, lr: float, batch_size: int,
               log: Callable | None = None):
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        feats = self.augment(kind)
        model = SLIM(feats.shape[2], hidden=self.hidden)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        y_all = self.labels[events]
        pos_weight = torch.tensor(max(1.0, float((~y_all).sum()) / max(1.0, float(y_all.sum()))))
        times = []
        for epoch in range(epochs):
            model.train()
            t0 = time.perf_counter()
            order = events[rng.permutation(events.size)]  # features are per-event snapshots: any order is leak-free
            for a in range(0, order.size, batch_size):
                b = order[a:a + batch_size]
                out = model(*self._inputs(feats, b))
                loss = F.binary_cross_entropy_with_logits(out, torch.from_numpy(self.labels[b]).float(),
                                                          pos_weight=pos_weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
            times.append(time.perf_counter() - t0)
            if log:
                log(f"{kind} epoch {epoch}: {times[-1]:.1f}s")
        return model, times

    @torch.no_grad()
    def _scores(self, model, kind: str, events: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        model.eval()
        feats = self.augment(kind)
        return np.concatenate([model(*self._inputs(feats, events[a:a + batch_size])).double().numpy()
                               for a in range(0, events.size, batch_size)]) if events.size else np.zeros(0)

    def auroc(self, model, kind: str, events: np.ndarray) -> float:
        s, y = self._scores(model, kind, events), self.labels[events]
        if y.all() or not y.any():
            return float("nan")
        return roc_auc(s[y], s[~y])

    def select_features(self, train_events: np.ndarray, epochs: int = 1, lr: float = 1e-3,
                        batch_size: int = 200, log: Callable | None = None) -> dict:
        """Train briefly on the first 80% of ``train_events`` with each candidate and keep the
        best AUROC on the last 20%. Sets ``self.kind``; returns {kind: AUROC}."""
        cut = int(0.8 * train_events.size)
        fit, held = train_events[:cut], train_events[cut:]
        scores = {}
        for kind in self.candidates:
            model, _ = self._train(kind, fit, epochs, lr, batch_size)
            scores[kind] = self.auroc(model, kind, held)
            if log:
                log(f"selection: {kind} AUROC {scores[kind]:.4f}")
        finite = {k: v for k, v in scores.items() if np.isfinite(v)}
        self.kind = max(finite, key=finite.get) if finite else self.candidates[0]
        return scores

    def fit_node_classification(self, epochs: int = 3, lr: float = 1e-3, batch_size: int = 200,
                                select_epochs: int = 1, log: Callable | None = None) -> dict:
        """Chronological 70/15/15: select the augmentation on the training part, train SLIM
        on it, report AUROC. Returns {'val': {'auroc'}, 'test': {'auroc'}, 'selected': kind,
        'selection': {kind: AUROC}, 'epoch_seconds': [...]}."""
        train, val, _ = self.graph.split(0.15, 0.15)
        n_tr, n_va = train.num_events, val.num_events
        tr = np.arange(n_tr)
        va = np.arange(n_tr, n_tr + n_va)
        te = np.arange(n_tr + n_va, self.graph.num_events)
        selection = self.select_features(tr, select_epochs, lr, batch_size, log)
        self.model, times = self._train(self.kind, tr, epochs, lr, batch_size, log)
        return {"val": {"auroc": self.auroc(self.model, self.kind, va)},
                "test": {"auroc": self.auroc(self.model, self.kind, te)},
                "selected": self.kind, "selection": selection, "epoch_seconds": times}

    def predict(self, events) -> torch.Tensor:
        """Logits (B,) of the source nodes' labels at events ``events`` (after fitting)."""
        if self.model is None:
            raise RuntimeError("call fit_node_classification first")
        events = np.asarray(events, dtype=np.int64)
        return torch.from_numpy(self._scores(self.model, self.kind, events))


__all__ = ["SPLASH", "SLIM", "AUGMENTATIONS", "NUM_STRUCTURAL"]
