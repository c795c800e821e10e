"""N-cache kernels of NAT on the GPU (numba.cuda): the batch update and the pair lookup of
:mod:`native.kernels.nat` with the same semantics, one thread per write or per lookup.

The update is data-parallel in three launches instead of a sequential pass:

1. ``decide``: one thread per candidate write (an event's 1-hop write, or one 2-hop write per
   entry of the other endpoint's 1-hop cache) tests it against the pre-batch caches and,
   when accepted, claims its slot with ``atomic.max`` of ``stamp << 32 | order``, where
   ``order`` is the write's position in the sequential order (1-hop writes by (event, side),
   2-hop writes by (event, side, entry)) and ``stamp`` grows by one every batch, so the
   claim tables (``win1``, ``win2``, one int64 per slot) never need clearing;
2. ``write2``: the claimant that won each 2-hop slot writes its key and the pre-batch value
   of its 1-hop entry (the 1-hop caches are not yet touched);
3. ``write1``: the winners of the 1-hop slots write theirs.

So the last accepted writer of a slot wins, as in the CPU kernel. ``pair_features``: one
thread per (pair, side, candidate). Kernels take validated arrays and never check them; they
name ``cuda`` as a module global so that Numba's CUDA simulator can stand in for a device.

A launch through numba-cuda costs far more on the host than the kernel on the device (most of
it in wrapping a foreign array), so callers keep persistent staging arrays and pass the
batch's length: the first ``B`` (``P``) rows are used.
"""

from __future__ import annotations

from native.device import numba_cuda
from native.kernels.nat import HASH_A, HASH_B, HASH_P

cuda = numba_cuda()

THREADS = 256


@cuda.jit(device=True)
def _slot(w, m):
    return ((w * HASH_A + HASH_B) % HASH_P) % m


@cuda.jit
def decide(B, keys1, keys2, src, dst, draws, alpha, stamp, win1, win2):
    t = cuda.grid(1)
    M1 = keys1.shape[1]
    M2 = keys2.shape[1]
    J = 1 + M1
    if t >= B * 2 * J:
        return
    e = t // (2 * J)
    r = t - e * 2 * J
    side = r // J
    j = r - side * J
    x = src[e] if side == 0 else dst[e]
    y = dst[e] if side == 0 else src[e]
    hi = stamp << 32
    if j == 0:
        s = _slot(y, M1)
        k = keys1[x, s]
        if k < 0 or k == y or draws[e, side, 0] < alpha:
            cuda.atomic.max(win1, x * M1 + s, hi | (e * 2 + side))
    else:
        w = keys1[y, j - 1]
        if w < 0 or w == x:
            return
        s = _slot(w, M2)
        k2 = keys2[x, s]
        if k2 < 0 or k2 == w or draws[e, side, j] < alpha:
            cuda.atomic.max(win2, x * M2 + s, hi | ((e * 2 + side) * M1 + j - 1))


@cuda.jit
def write2(B, keys1, vals1, keys2, vals2, src, dst, stamp, win2):
    t = cuda.grid(1)
    M1 = keys1.shape[1]
    M2 = keys2.shape[1]
    if t >= B * 2 * M1:
        return
    e = t // (2 * M1)
    r = t - e * 2 * M1
    side = r // M1
    j = r - side * M1
    x = src[e] if side == 0 else dst[e]
    y = dst[e] if side == 0 else src[e]
    w = keys1[y, j]
    if w < 0 or w == x:
        return
    s = _slot(w, M2)
    if win2[x * M2 + s] == (stamp << 32) | ((e * 2 + side) * M1 + j):
        keys2[x, s] = w
        for f in range(vals2.shape[2]):
            vals2[x, s, f] = vals1[y, j, f]


@cuda.jit
def write1(B, keys1, vals1, src, dst, val_src, val_dst, stamp, win1):
    t = cuda.grid(1)
    M1 = keys1.shape[1]
    if t >= B * 2:
        return
    e = t // 2
    side = t - e * 2
    x = src[e] if side == 0 else dst[e]
    y = dst[e] if side == 0 else src[e]
    s = _slot(y, M1)
    if win1[x * M1 + s] == (stamp << 32) | (e * 2 + side):
        keys1[x, s] = y
        for f in range(vals1.shape[2]):
            vals1[x, s, f] = val_src[e, f] if side == 0 else val_dst[e, f]


@cuda.jit
def pair_features(P, keys1, keys2, u, v, keys, counts):
    t = cuda.grid(1)
    M1 = keys1.shape[1]
    M2 = keys2.shape[1]
    S = 1 + M1 + M2
    if t >= P * 2 * S:
        return
    i = t // (2 * S)
    r = t - i * 2 * S
    side = r // S
    c = r - side * S
    a = u[i]
    b = v[i]
    x = a if side == 0 else b
    if c == 0:
        w = x
    elif c <= M1:
        w = keys1[x, c - 1]
    else:
        w = keys2[x, c - 1 - M1]
    keys[i, side, c] = w
    if w < 0:
        for f in range(6):
            counts[i, side, c, f] = 0.0
        return
    s1 = _slot(w, M1)
    s2 = _slot(w, M2)
    counts[i, side, c, 0] = 1.0 if w == a else 0.0
    counts[i, side, c, 1] = 1.0 if keys1[a, s1] == w else 0.0
    counts[i, side, c, 2] = 1.0 if keys2[a, s2] == w else 0.0
    counts[i, side, c, 3] = 1.0 if w == b else 0.0
    counts[i, side, c, 4] = 1.0 if keys1[b, s1] == w else 0.0
    counts[i, side, c, 5] = 1.0 if keys2[b, s2] == w else 0.0


def _blocks(n: int) -> int:
    return max(1, (n + THREADS - 1) // THREADS)


def launch_update(B, keys1, vals1, keys2, vals2, win1, win2, src, dst, val_src, val_dst, draws, alpha, stamp,
                  stream=0) -> None:
    """One batch update of the first ``B`` events (arguments as
    :func:`native.kernels.nat.ncache_update`, device arrays that may be longer than ``B``, plus
    the claim tables ``win1`` (N*M1,) / ``win2`` (N*M2,) int64 and the batch's ``stamp``)."""
    M1 = keys1.shape[1]
    if B == 0:
        return
    decide[_blocks(B * 2 * (1 + M1)), THREADS, stream](B, keys1, keys2, src, dst, draws, alpha, stamp, win1, win2)
    write2[_blocks(B * 2 * M1), THREADS, stream](B, keys1, vals1, keys2, vals2, src, dst, stamp, win2)
    write1[_blocks(B * 2), THREADS, stream](B, keys1, vals1, src, dst, val_src, val_dst, stamp, win1)


def launch_pair_features(P, keys1, keys2, u, v, keys, counts, stream=0) -> None:
    """Fill ``keys[:P]`` (P, 2, S) and ``counts[:P]`` (P, 2, S, 6) for the pairs (u[i], v[i])."""
    n = P * 2 * keys.shape[2]
    if n:
        pair_features[_blocks(n), THREADS, stream](P, keys1, keys2, u, v, keys, counts)
