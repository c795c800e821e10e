"""CUDA batch search over an HNSW graph (numba.cuda): one 32-thread block per query.

The graph arrays are those of ``native.kernels.hnsw`` (layer-0 links ``L0``/``c0``, upper
rows ``U``/``cu`` by ``offs``), copied to the device once. Each block:

- descends greedily through the upper layers (the block computes the distances of all
  of the current node's links at once, lanes splitting the dimensions so that reads of a
  vector are coalesced, then one lane moves to the best);
- searches layer 0 best-first with a sorted list of ``ef`` candidates, each marked when
  expanded (the list is the beam of Alg. 2: the search ends when every entry in it has
  been expanded); a visited set is an open-addressing hash in shared memory (a full
  probe sequence only costs a distance recomputation, never a duplicate: insertion
  checks the list);
- keeps the ``k`` best nodes allowed by ``mask`` in a second sorted list: filtered and
  removed nodes are traversed but never returned.

Only shared-memory reductions and ``syncthreads`` are used (no warp shuffles), so the
kernel also runs under Numba's CUDA simulator, where the tests check it against the CPU
search. Kernels never validate; :class:`ann.HNSWIndex` does.
"""

from __future__ import annotations

from numba import float32, int32, uint8

from native.device import numba_cuda

# Imported only when a GPU search is asked for. Kernels are module-level and name ``cuda``
# as a module global, which is what lets Numba's CUDA simulator stand in for a device.
cuda = numba_cuda()

LANES = 32
PROW = LANES + 1  # padded row of the partial-sum tile (a literal: shared shapes must be constants)
MAX_EF = 512  # beam width limit of the GPU search (shared-memory list size)
HASH = 2048  # visited-hash slots per query (power of two)
PROBES = 16


@cuda.jit(device=True)
def partial(Q, qi, X, e, metric, lane):
    s = float32(0.0)
    for i in range(lane, X.shape[1], LANES):
        if metric == 0:
            t = Q[qi, i] - X[e, i]
            s += t * t
        else:
            s += Q[qi, i] * X[e, i]
    return s

@cuda.jit(device=True)
def hash_insert(hsh, e):
    """1: newly marked; 0: seen before; 2: hash full (caller checks for duplicates)."""
    slot = (e * 40503) & (HASH - 1)
    for _ in range(PROBES):
        old = cuda.atomic.cas(hsh, slot, -1, e)
        if old == -1:
            return 1
        if old == e:
            return 0
        slot = (slot + 1) & (HASH - 1)
    return 2

@cuda.jit(device=True)
def sorted_insert(Ld, Li, Lx, n, cap, d, e):
    """Insert (d, e) into the ascending list of size n (max cap); returns the new size."""
    if n == cap and d >= Ld[n - 1]:
        return n
    pos = n if n < cap else cap - 1
    while pos > 0 and Ld[pos - 1] > d:
        Ld[pos] = Ld[pos - 1]
        Li[pos] = Li[pos - 1]
        Lx[pos] = Lx[pos - 1]
        pos -= 1
    Ld[pos] = d
    Li[pos] = e
    Lx[pos] = 0
    return n + 1 if n < cap else n

@cuda.jit
def kernel(Q, X, L0, c0, U, cu, offs, ep_node, top, k, ef, metric, mask, use_mask, outD, outI):
    lane = cuda.threadIdx.x
    hsh = cuda.shared.array(HASH, int32)
    Ld = cuda.shared.array(MAX_EF, float32)
    Li = cuda.shared.array(MAX_EF, int32)
    Lx = cuda.shared.array(MAX_EF, uint8)
    Rd = cuda.shared.array(MAX_EF, float32)
    Ri = cuda.shared.array(MAX_EF, int32)
    Rx = cuda.shared.array(MAX_EF, uint8)
    P = cuda.shared.array((64, PROW), float32)  # partial sums, one row a link
    nb = cuda.shared.array(64, int32)
    fl = cuda.shared.array(64, int32)
    st = cuda.shared.array(4, int32)  # 0: current node, 1: list size, 2: result size, 3: flag
    sd = cuda.shared.array(1, float32)
    for qi in range(cuda.blockIdx.x, Q.shape[0], cuda.gridDim.x):
        for h in range(lane, HASH, LANES):
            hsh[h] = -1
        P[0, lane] = partial(Q, qi, X, ep_node, metric, lane)
        cuda.syncthreads()
        if lane == 0:
            s = float32(0.0)
            for t in range(LANES):
                s += P[0, t]
            sd[0] = s if metric == 0 else float32(1.0) - s
            st[0] = ep_node
        cuda.syncthreads()
        # ---- greedy descent through the upper layers
        for layer in range(top, 0, -1):
            while True:
                cur = st[0]
                r = offs[cur] + layer - 1
                cnt = cu[r]
                for j in range(cnt):
                    P[j, lane] = partial(Q, qi, X, U[r, j], metric, lane)
                cuda.syncthreads()
                if lane == 0:
                    st[3] = 0
                    for j in range(cnt):
                        s = float32(0.0)
                        for t in range(LANES):
                            s += P[j, t]
                        d = s if metric == 0 else float32(1.0) - s
                        if d < sd[0]:
                            sd[0] = d
                            st[0] = U[r, j]
                            st[3] = 1
                cuda.syncthreads()
                if st[3] == 0:
                    break
        # ---- best-first beam search on layer 0
        if lane == 0:
            e = st[0]
            hash_insert(hsh, e)
            Ld[0] = sd[0]
            Li[0] = e
            Lx[0] = 0
            st[1] = 1
            st[2] = 0
            if use_mask == 0 or mask[e] != 0:
                Rd[0] = sd[0]
                Ri[0] = e
                st[2] = 1
        cuda.syncthreads()
        while True:
            if lane == 0:
                st[0] = -1
                for t in range(st[1]):
                    if Lx[t] == 0:
                        Lx[t] = 1
                        st[0] = Li[t]
                        break
            cuda.syncthreads()
            c = st[0]
            if c < 0:
                break
            cnt = c0[c]
            if lane < cnt:
                e = L0[c, lane]
                nb[lane] = e
                fl[lane] = hash_insert(hsh, e)
            if lane + LANES < cnt:
                e = L0[c, lane + LANES]
                nb[lane + LANES] = e
                fl[lane + LANES] = hash_insert(hsh, e)
            cuda.syncthreads()
            for j in range(cnt):
                if fl[j] != 0:
                    P[j, lane] = partial(Q, qi, X, nb[j], metric, lane)
            cuda.syncthreads()
            if lane == 0:
                n = st[1]
                nr = st[2]
                for j in range(cnt):
                    if fl[j] == 0:
                        continue
                    e = nb[j]
                    s = float32(0.0)
                    for t in range(LANES):
                        s += P[j, t]
                    d = s if metric == 0 else float32(1.0) - s
                    dup = False
                    if fl[j] == 2:
                        for t in range(n):
                            if Li[t] == e:
                                dup = True
                        for t in range(nr):
                            if Ri[t] == e:
                                dup = True
                    if dup:
                        continue
                    n = sorted_insert(Ld, Li, Lx, n, ef, d, e)
                    if use_mask == 0 or mask[e] != 0:
                        nr = sorted_insert(Rd, Ri, Rx, nr, k, d, e)
                st[1] = n
                st[2] = nr
            cuda.syncthreads()
        for j in range(lane, k, LANES):
            if j < st[2]:
                outD[qi, j] = Rd[j]
                outI[qi, j] = Ri[j]
        cuda.syncthreads()



def search_batch_cuda(Q, graph, ep_node, top, k, ef, metric, mask, use_mask, blocks=None):
    """Run the kernel over device arrays. ``graph`` = (X, L0, c0, U, cu, offs) on the device,
    ``Q`` (nq, dim) float32 and ``mask`` (n,) uint8 on the device or host. Returns host
    (D (nq, k) float32, I (nq, k) int64 nodes), padded with inf / -1."""
    import numpy as np

    nq = Q.shape[0]
    outD = cuda.to_device(np.full((nq, k), np.inf, np.float32))
    outI = cuda.to_device(np.full((nq, k), -1, np.int32))
    nblocks = int(blocks or min(nq, 65535))
    kernel[nblocks, LANES](Q, *graph, ep_node, top, k, ef, metric, mask, use_mask, outD, outI)
    return outD.copy_to_host(), outI.copy_to_host().astype(np.int64)
