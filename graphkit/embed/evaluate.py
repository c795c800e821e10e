"""Multi-label node classification of embeddings, as in DeepWalk (Perozzi et al., KDD 2014)
and the FastRP paper: one-vs-rest logistic regression trained on a random fraction of the
nodes; every test node is given its true number of labels k and predicted the k labels of
highest score; Micro- and Macro-F1 over the test nodes, averaged over random splits.

Numpy and torch only: the logistic regressions (scikit-learn's objective, L2 with C) are
fitted jointly by L-BFGS in torch; the tests check them against scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _array(a: Any, name: str, ndim: int) -> np.ndarray:
    a = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return a


def top_k_labels(scores: Any, k: Any) -> np.ndarray:
    """(n, L) bool: True at the ``k[i]`` highest scores of row i (ties: lower label first).

    Args:
        scores: (n, L) real scores. k: (n,) labels per row, in [0, L].

    Raises:
        ValueError: shape mismatch, k outside [0, L].
    """
    S = _array(scores, "scores", 2)
    kk = _array(k, "k", 1).astype(np.int64)
    n, L = S.shape
    if kk.shape[0] != n:
        raise ValueError(f"k has {kk.shape[0]} entries, scores has {n} rows")
    if n and (kk.min() < 0 or kk.max() > L):
        raise ValueError(f"k must lie in [0, {L}], got values in [{kk.min()}, {kk.max()}]")
    order = np.argsort(-S, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(L)[None, :].repeat(n, 0), axis=1)
    return rank < kk[:, None]


def multilabel_f1(y_true: Any, y_pred: Any) -> tuple[float, float]:
    """(Micro-F1, Macro-F1) of (n, L) boolean label matrices.

    Micro-F1 pools true/false positives and false negatives over all labels; Macro-F1
    averages the per-label F1 = 2TP / (2TP + FP + FN), a label with none of the three
    counting 0 (scikit-learn's ``f1_score`` with its default ``zero_division``).

    Raises:
        ValueError: shapes differ.
    """
    T = _array(y_true, "y_true", 2).astype(bool)
    P = _array(y_pred, "y_pred", 2).astype(bool)
    if T.shape != P.shape:
        raise ValueError(f"y_true has shape {T.shape}, y_pred has {P.shape}")
    tp = (T & P).sum(0).astype(np.float64)
    fp = (~T & P).sum(0).astype(np.float64)
    fn = (T & ~P).sum(0).astype(np.float64)
    den = 2 * tp + fp + fn
    micro = 2 * tp.sum() / den.sum() if den.sum() > 0 else 0.0
    per_label = np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0)
    return float(micro), float(per_label.mean())


def _fit_logistic(X, Y, C: float, max_iter: int):
    """One-vs-rest L2 logistic regressions, all labels at once: (W (d, L), b (L,)).

    Minimises, for every label l independently, C * sum_i log(1 + exp(-y_il (x_i.w_l + b_l)))
    + |w_l|^2 / 2 (y in {-1, 1}; bias not penalised): scikit-learn's LogisticRegression(C)
    objective. The labels share no parameters, so one L-BFGS run on the sum solves all.
    """
    import torch

    Xt = torch.as_tensor(X, dtype=torch.float64)
    Yt = torch.as_tensor(Y, dtype=torch.float64)
    W = torch.zeros(Xt.shape[1], Yt.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(Yt.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=max_iter, tolerance_grad=1e-7,
                            tolerance_change=1e-10, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        z = Xt @ W + b
        loss = C * torch.nn.functional.binary_cross_entropy_with_logits(z, Yt, reduction="sum")
        loss = loss + 0.5 * (W * W).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach().numpy(), b.detach().numpy()


def node_classification_f1(
    embeddings: Any,
    labels: Any,
    train_ratio: float,
    repeats: int = 1,
    seed: int = 0,
    C: float = 1.0,
    standardize: bool = True,
    max_iter: int = 200,
) -> dict:
    """Micro/Macro-F1 of one-vs-rest logistic regression on node embeddings (DeepWalk protocol).

    Args:
        embeddings: (N, d) real features. labels: (N, L) bool label matrix.
        train_ratio: fraction of nodes used for training, in (0, 1).
        repeats: random splits to average over. seed: seed of the splits.
        C: inverse L2 regularisation of the logistic regressions (scikit-learn's C).
        standardize: scale every embedding column to zero mean and unit variance (over all
            nodes, no labels involved) before training, as FastRP's reference code does.
        max_iter: L-BFGS iterations.

    Returns:
        {'micro_f1', 'macro_f1'} means and {'micro_f1_std', 'macro_f1_std'} over the splits.

    Raises:
        ValueError: bad shapes or train_ratio.
    """
    X = _array(embeddings, "embeddings", 2).astype(np.float64)
    Y = _array(labels, "labels", 2).astype(bool)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"embeddings has {X.shape[0]} rows, labels has {Y.shape[0]}")
    if not 0.0 < float(train_ratio) < 1.0:
        raise ValueError(f"train_ratio must lie in (0, 1), got {train_ratio!r}")
    if standardize:
        sd = X.std(0)
        X = (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    n_train = int(round(train_ratio * n))
    scores = []
    for _ in range(repeats):
        perm = rng.permutation(n)
        tr, te = perm[:n_train], perm[n_train:]
        W, b = _fit_logistic(X[tr], Y[tr], float(C), int(max_iter))
        pred = top_k_labels(X[te] @ W + b, Y[te].sum(1))
        scores.append(multilabel_f1(Y[te], pred))
    s = np.array(scores)
    return {
        "micro_f1": float(s[:, 0].mean()),
        "macro_f1": float(s[:, 1].mean()),
        "micro_f1_std": float(s[:, 0].std()),
        "macro_f1_std": float(s[:, 1].std()),
    }
