"""CUDA implementations of distances and exact top-k (torch matmul + topk).

Imported by :mod:`native.distance` for registration only; torch's CUDA runtime is touched
when a kernel runs, never at import. Inputs are CUDA float32 tensors, contiguous,
normalised already for cosine.
"""

from __future__ import annotations

from native.device import register

_SCORE_ELEMS = 1 << 28  # 1 GiB of float32 scores per chunk


def _scores(q, x, x_sq, metric):
    g = q @ x.T
    if metric in ("ip", "cosine"):
        return 1.0 - g
    d = (q * q).sum(1, keepdim=True) - 2.0 * g + x_sq[None, :]
    return d.clamp_min_(0.0)


@register("knn", "cuda")
def knn_cuda(Q, X, k: int, metric: str, x_sq_norms=None):
    """Exact top-k on the GPU. Returns (D (nq,k) float32, I (nq,k) int64) CUDA tensors."""
    import torch

    nq, n = Q.shape[0], X.shape[0]
    kk = min(k, n)
    D = torch.full((nq, k), float("inf"), device=Q.device, dtype=torch.float32)
    I = torch.full((nq, k), -1, device=Q.device, dtype=torch.int64)
    if kk == 0 or nq == 0:
        return D, I
    x_sq = (X * X).sum(1) if x_sq_norms is None else x_sq_norms
    qb = max(1, min(nq, _SCORE_ELEMS // max(n, 1)))
    xb = n if qb > 1 else max(kk, _SCORE_ELEMS)
    for qs in range(0, nq, qb):
        q = Q[qs : qs + qb]
        best_d = best_i = None
        for xs in range(0, n, xb):
            s = _scores(q, X[xs : xs + xb], x_sq[xs : xs + xb], metric)
            d, i = torch.topk(s, min(kk, s.shape[1]), dim=1, largest=False, sorted=True)
            i = i + xs
            if best_d is None:
                best_d, best_i = d, i
            else:
                cat_d = torch.cat([best_d, d], 1)
                cat_i = torch.cat([best_i, i], 1)
                best_d, pos = torch.topk(cat_d, kk, dim=1, largest=False, sorted=True)
                best_i = torch.gather(cat_i, 1, pos)
        D[qs : qs + qb, :kk] = best_d
        I[qs : qs + qb, :kk] = best_i
    return D, I


@register("pairwise", "cuda")
def pairwise_cuda(Q, X, metric: str):
    """Dense (nq, n) float32 distances on the GPU."""
    return _scores(Q, X, (X * X).sum(1), metric)
