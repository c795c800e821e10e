"""CPU kernels for HNSW (Malkov & Yashunin, TPAMI 2018): insertion, layer search, the
neighbour-selection heuristic, and batched k-NN search (Numba).

Graph layout (all plain arrays, owned by ``ann.hnsw.HNSWIndex``):

- ``X``      (cap, dim) float32 vectors by node (normalised for cosine);
- ``levels`` (cap,) int32 top layer of each node;
- ``L0``     (cap, M0) int32 layer-0 links, ``c0`` (cap,) int32 their counts;
- ``U``      (rows, M) int32 upper-layer links, ``cu`` (rows,) int32 their counts; node ``i``
  owns rows ``offs[i] .. offs[i] + levels[i] - 1`` (layer ``l >= 1`` is row ``offs[i] + l - 1``);
- ``deleted`` (cap,) bool: traversed, never returned;
- ``ep`` int64 (2,): entry point and top layer (``-1, -1`` while empty).

``metric``: 0 = squared L2, 1 = ``1 - <q, x>`` (inner product and cosine). Kernels never
validate their inputs.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from native.kernels.distance import ip_dist, l2_sq

# The layer search hints the CPU to load the vector of the link _PF_AHEAD places ahead
# when that link is not yet visited (its first _PF_FLOATS floats; the hardware prefetcher
# follows on), as hnswlib does, but only when the vectors exceed _PF_MIN_FLOATS (8 MiB):
# in cache the hints cost 3-6%, and 20% in a filtered walk.
_PF_AHEAD = 4
_PF_FLOATS = 128
_PF_MIN_FLOATS = 2 << 20


@intrinsic
def _prefetch_row(typingctx, X, i, col):
    """Hint the CPU to load the cache line holding ``X[i, col]`` (2-D array; LLVM's
    prefetch: read, high locality, data cache). No effect on results."""
    if not (isinstance(X, types.Array) and X.ndim == 2 and isinstance(i, types.Integer)
            and isinstance(col, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        row = context.cast(builder, args[1], sig.args[1], types.intp)
        colv = context.cast(builder, args[2], sig.args[2], types.intp)
        ptr = cgutils.get_item_pointer2(
            context, builder, data=ary.data, shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides), layout=aryty.layout,
            inds=[row, colv])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(X, i, col), codegen


@njit(cache=True, nogil=True, inline="always")
def _prefetch_vector(X, i, cols):
    """Prefetch the cache lines holding ``X[i, :cols]`` (16 float32 to a 64-byte line)."""
    for c in range(0, cols, 16):
        _prefetch_row(X, i, c)


@njit(cache=True, nogil=True, inline="always")
def _dist(a, b, metric):
    if metric == 0:
        return l2_sq(a, b)
    return ip_dist(a, b)


@njit(cache=True, nogil=True, fastmath=True)
def _l2_row(q, X, e):
    s = np.float32(0.0)
    for i in range(q.shape[0]):
        t = q[i] - X[e, i]
        s += t * t
    return s


@njit(cache=True, nogil=True, fastmath=True)
def _ip_row(q, X, e):
    s = np.float32(0.0)
    for i in range(q.shape[0]):
        s += q[i] * X[e, i]
    return np.float32(1.0) - s


@njit(cache=True, nogil=True, inline="always")
def _dist_row(q, X, e, metric):
    """Distance from ``q`` to row ``e`` of ``X`` without making a view of the row (a view
    costs a reference-count round trip per distance in the search's inner loop)."""
    if metric == 0:
        return _l2_row(q, X, e)
    return _ip_row(q, X, e)


# --------------------------------------------------------------------------- binary heaps
# A heap is (keys float32, vals int32, size held by the caller); it is a min-heap on keys.
# The result set is a max-heap by distance, stored as a min-heap on -distance.
@njit(cache=True, nogil=True, inline="always")
def _heap_push(hk, hv, size, k, v):
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if hk[parent] <= k:
            break
        hk[pos] = hk[parent]
        hv[pos] = hv[parent]
        pos = parent
    hk[pos] = k
    hv[pos] = v
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _heap_replace_root(hk, hv, size, k, v):
    """Put (k, v) at the root of the min-heap of ``size`` and sift it down."""
    pos = 0
    while True:
        c = 2 * pos + 1
        if c >= size:
            break
        if c + 1 < size and hk[c + 1] < hk[c]:
            c += 1
        if hk[c] < k:
            hk[pos] = hk[c]
            hv[pos] = hv[c]
            pos = c
        else:
            break
    hk[pos] = k
    hv[pos] = v


@njit(cache=True, nogil=True, inline="always")
def _heap_pop(hk, hv, size):
    """Remove the root; returns the new size (the root must be read before)."""
    size -= 1
    if size > 0:
        _heap_replace_root(hk, hv, size, hk[size], hv[size])
    return size


@njit(cache=True, nogil=True, inline="always")
def _heap_push_bounded(hk, hv, size, cap, k, v):
    """Push into a heap holding at most ``cap``: when full, (k, v) replaces the root
    (the caller has checked that it beats it). Returns the new size."""
    if size < cap:
        return _heap_push(hk, hv, size, k, v)
    _heap_replace_root(hk, hv, size, k, v)
    return size


# --------------------------------------------------------------------------- visited tags
@njit(cache=True, nogil=True)
def _next_tag(vis, tag):
    """Tag for a new search over ``vis`` (uint32); clears the array when the tag wraps."""
    tag += np.uint32(1)
    if tag == np.uint32(0):
        vis[:] = 0
        tag = np.uint32(1)
    return tag


# --------------------------------------------------------------------------- links
@njit(cache=True, nogil=True, inline="always")
def _links(L0, c0, U, cu, offs, node, layer):
    """(link row, count array, index into the count array) of ``node`` on ``layer``."""
    if layer == 0:
        return L0[node], c0, np.int64(node)
    r = np.int64(offs[node] + layer - 1)
    return U[r], cu, r


# --------------------------------------------------------------------------- SEARCH-LAYER (Alg. 2)
@njit(cache=True, nogil=True)
def _search_layer(q, X, L0, c0, U, cu, offs, eps, n_eps, ef, layer, metric, vis, tag,
                  ck, cv, rk, rv, use_mask, mask):
    """Beam search of ``layer`` from entry nodes ``eps[:n_eps]`` with beam width ``ef``.

    With ``use_mask`` only nodes with ``mask[node]`` true enter the result set (all nodes
    are traversed), as in hnswlib's search with deleted elements / filters. Results are
    left in the max-heap (rk = -distance, rv = node); returns their number.
    ``ck, cv``: candidate min-heap buffers (size >= number of nodes); ``rk, rv``: >= ef + 1.
    """
    nc = 0
    nr = 0
    big = X.shape[0] * X.shape[1] >= _PF_MIN_FLOATS
    pre = _PF_AHEAD if big else 0  # links hinted before the loop over a node's links
    ahead = _PF_AHEAD if big else np.iinfo(np.int64).max // 2  # how far ahead in it (small: never)
    pf_cols = min(X.shape[1], _PF_FLOATS)
    for e in range(n_eps):
        node = eps[e]
        if vis[node] == tag:
            continue
        vis[node] = tag
        d = _dist_row(q, X, node, metric)
        nc = _heap_push(ck, cv, nc, d, node)
        if ((not use_mask) or mask[node]) and (nr < ef or -d > rk[0]):
            nr = _heap_push_bounded(rk, rv, nr, ef, -d, node)
    while nc > 0:
        d = ck[0]
        c = cv[0]
        bound = -rk[0] if nr >= ef else np.float32(np.inf)
        if d > bound:
            break
        nc = _heap_pop(ck, cv, nc)
        row, cnt, ci = _links(L0, c0, U, cu, offs, c, layer)
        m = cnt[ci]
        for j in range(min(m, pre)):
            if vis[row[j]] != tag:
                _prefetch_vector(X, row[j], pf_cols)
        for j in range(m):
            if j + ahead < m and vis[row[j + ahead]] != tag:
                _prefetch_vector(X, row[j + ahead], pf_cols)
            e = row[j]
            if vis[e] == tag:
                continue
            vis[e] = tag
            de = _dist_row(q, X, e, metric)
            bound = -rk[0] if nr >= ef else np.float32(np.inf)
            if de < bound:
                nc = _heap_push(ck, cv, nc, de, e)
                if (not use_mask) or mask[e]:
                    nr = _heap_push_bounded(rk, rv, nr, ef, -de, e)
    return nr


@njit(cache=True, nogil=True)
def _search_buffers(n, ef):
    """Candidate heap (n + 1), result heap, sorted results and entry points (ef + 2)."""
    return (np.empty(n + 1, np.float32), np.empty(n + 1, np.int32), np.empty(ef + 2, np.float32),
            np.empty(ef + 2, np.int32), np.empty(ef + 2, np.float32), np.empty(ef + 2, np.int32),
            np.empty(ef + 2, np.int32))


@njit(cache=True, nogil=True)
def _drain_sorted(rk, rv, nr, outd, outi):
    """Empty the result max-heap into outd/outi ascending by distance; returns nr."""
    n = nr
    while nr > 0:
        outd[nr - 1] = -rk[0]
        outi[nr - 1] = rv[0]
        nr = _heap_pop(rk, rv, nr)
    return n


@njit(cache=True, nogil=True)
def _greedy(q, X, L0, c0, U, cu, offs, cur, curd, layer, metric):
    """Greedy walk (ef = 1) on ``layer``; returns (node, distance)."""
    changed = True
    while changed:
        changed = False
        row, cnt, ci = _links(L0, c0, U, cu, offs, cur, layer)
        for j in range(cnt[ci]):
            e = row[j]
            d = _dist_row(q, X, e, metric)
            if d < curd:
                curd = d
                cur = e
                changed = True
    return cur, curd


# --------------------------------------------------------------------------- SELECT-NEIGHBORS-HEURISTIC (Alg. 4)
@njit(cache=True, nogil=True)
def _select_heuristic(X, cd, ci, n, m, metric, keep_pruned, outi):
    """Alg. 4 without extendCandidates (as hnswlib).

    ``cd, ci[:n]``: candidates with their distances to the base element, ascending.
    A candidate is kept when it is closer to the base than to every element kept so far.
    With ``keep_pruned`` the discarded candidates fill the remaining places, nearest first
    (the paper's keepPrunedConnections). Writes at most ``m`` nodes to ``outi``; returns how many.
    """
    if n <= m:
        for j in range(n):
            outi[j] = ci[j]
        return n
    return _prune(X, cd, ci, n, m, metric, keep_pruned, outi)


@njit(cache=True, nogil=True)
def _prune(X, cd, ci, n, m, metric, keep_pruned, outi):
    """The heuristic's rule over all ``n`` candidates, even when ``n <= m``."""
    r = 0
    for j in range(n):
        if r >= m:
            break
        e = ci[j]
        good = True
        for t in range(r):
            if _dist(X[e], X[outi[t]], metric) < cd[j]:
                good = False
                break
        if good:
            outi[r] = e
            r += 1
    if keep_pruned and r < m:
        for j in range(n):
            if r >= m:
                break
            if not _contains(outi, r, ci[j]):
                outi[r] = ci[j]
                r += 1
    return r


@njit(cache=True, nogil=True, inline="always")
def _contains(a, n, v):
    for t in range(n):
        if a[t] == v:
            return True
    return False


@njit(cache=True, nogil=True)
def _shrink(X, row, cnt, ci, base, extra, n_extra, mmax, metric, keep_pruned):
    """Links of ``base``: its current ``row[:cnt[ci]]`` plus ``extra[:n_extra]``; when they
    exceed ``mmax`` the heuristic keeps ``mmax`` of them (hnswlib's shrinking rule)."""
    ne = cnt[ci]
    m = 0
    for j in range(n_extra):  # an extra already linked (a batch element planned both ways) is skipped
        if not _contains(row, ne, extra[j]):
            extra[m] = extra[j]
            m += 1
    n_extra = m
    if n_extra == 0:
        return
    if ne + n_extra <= mmax:
        for j in range(n_extra):
            row[ne + j] = extra[j]
        cnt[ci] = ne + n_extra
        return
    tot = ne + n_extra
    sd = np.empty(tot, np.float32)
    si = np.empty(tot, np.int32)
    for t in range(ne):
        si[t] = row[t]
    for t in range(n_extra):
        si[ne + t] = extra[t]
    for t in range(tot):
        sd[t] = _dist(X[base], X[si[t]], metric)
    order = np.argsort(sd, kind="mergesort")
    sd2 = sd[order]
    si2 = si[order]
    cnt[ci] = _select_heuristic(X, sd2, si2, tot, mmax, metric, keep_pruned, row)


# --------------------------------------------------------------------------- INSERT (Alg. 1)
@njit(cache=True, nogil=True)
def _plan_links(node, X, levels, L0, c0, U, cu, offs, ep_node, top, M, efc, metric, keep_pruned,
                vis, tag, ck, cv, rk, rv, wd, wi, eps, out, outc):
    """Alg. 1 for one element against the current graph, without writing it: greedy descent
    from the entry point through the layers above the element's level, then on each of its
    layers (<= ``top``) a beam search with ``efc`` and the heuristic's ``M`` links, written to
    ``out[layer, :outc[layer]]``. Returns the last visited-tag used."""
    lvl = levels[node]
    q = X[node]
    cur = np.int32(ep_node)
    curd = _dist(q, X[cur], metric)
    for layer in range(top, lvl, -1):
        cur, curd = _greedy(q, X, L0, c0, U, cu, offs, cur, curd, layer, metric)
    eps[0] = cur
    n_eps = 1
    dummy = np.empty(0, np.bool_)
    for layer in range(min(lvl, top), -1, -1):
        tag = _next_tag(vis, tag)
        nr = _search_layer(q, X, L0, c0, U, cu, offs, eps, n_eps, efc, layer, metric, vis, tag,
                           ck, cv, rk, rv, False, dummy)
        nw = _drain_sorted(rk, rv, nr, wd, wi)
        outc[layer] = _select_heuristic(X, wd, wi, nw, M, metric, keep_pruned, out[layer])
        for j in range(nw):
            eps[j] = wi[j]
        n_eps = nw
    return tag


@njit(cache=True, nogil=True)
def insert_serial(nodes, X, levels, L0, c0, U, cu, offs, ep, M, M0, efc, metric, keep_pruned, vis, tag):
    """Insert ``nodes`` one after another (Alg. 1), updating the entry point ``ep``.

    Each element links to the ``M`` nodes the heuristic picks on each of its layers; every
    new neighbour links back, shrinking its list to ``M`` (``M0`` on layer 0) with the
    heuristic when it overflows. Returns the last visited-tag.
    """
    cap = X.shape[0]
    ck, cv, rk, rv, wd, wi, eps = _search_buffers(cap, efc)
    one = np.empty(1, np.int32)
    for t in range(nodes.shape[0]):
        node = nodes[t]
        lvl = levels[node]
        c0[node] = 0
        for r in range(lvl):
            cu[offs[node] + r] = 0
        if ep[0] < 0:
            ep[0] = node
            ep[1] = lvl
            continue
        top = ep[1]
        out = np.zeros((min(lvl, top) + 1, M), np.int32)
        outc = np.zeros(min(lvl, top) + 1, np.int32)
        tag = _plan_links(node, X, levels, L0, c0, U, cu, offs, ep[0], top, M, efc, metric,
                          keep_pruned, vis, tag, ck, cv, rk, rv, wd, wi, eps, out, outc)
        one[0] = node
        for layer in range(min(lvl, top) + 1):
            row, cnt, ci = _links(L0, c0, U, cu, offs, node, layer)
            for j in range(outc[layer]):
                row[j] = out[layer, j]
            cnt[ci] = outc[layer]
            mmax = M0 if layer == 0 else M
            for j in range(outc[layer]):
                e = out[layer, j]
                erow, ecnt, eci = _links(L0, c0, U, cu, offs, e, layer)
                _shrink(X, erow, ecnt, eci, e, one, 1, mmax, metric, keep_pruned)
        if lvl > top:
            ep[0] = node
            ep[1] = lvl
    return tag


@njit(cache=True, nogil=True, parallel=True)
def plan_batch(nodes, X, levels, L0, c0, U, cu, offs, ep, M, efc, metric, keep_pruned, vis, tags, out, outc):
    """Phase 1 of a parallel insertion round: every element of ``nodes`` searches the graph
    as it stands (read only) for its links, ``out[b, layer, :outc[b, layer]]``.

    ``vis`` (nchunks, cap) uint32 and ``tags`` (nchunks,) are per-chunk visited sets; the
    batch is split into ``nchunks`` contiguous chunks run in parallel.
    """
    B = nodes.shape[0]
    nchunks = vis.shape[0]
    cap = X.shape[0]
    step = (B + nchunks - 1) // nchunks
    for c in prange(nchunks):
        b0 = c * step
        b1 = min(B, b0 + step)
        if b0 >= b1:
            continue
        ck, cv, rk, rv, wd, wi, eps = _search_buffers(cap, efc)
        tag = tags[c]
        for b in range(b0, b1):
            tag = _plan_links(nodes[b], X, levels, L0, c0, U, cu, offs, ep[0], ep[1], M, efc,
                              metric, keep_pruned, vis[c], tag, ck, cv, rk, rv, wd, wi, eps,
                              out[b], outc[b])
        tags[c] = tag


@njit(cache=True, nogil=True)
def _planned_links(out, outc, cap):
    """The planned links of a round as (key = layer * cap + target, batch position of the
    source), and the stable order that sorts them by key (sources keep batch order)."""
    B = out.shape[0]
    L = out.shape[1]
    E = 0
    for b in range(B):
        for layer in range(L):
            E += outc[b, layer]
    key = np.empty(E, np.int64)
    pos = np.empty(E, np.int32)
    t = 0
    for b in range(B):
        for layer in range(L):
            for j in range(outc[b, layer]):
                key[t] = layer * cap + out[b, layer, j]
                pos[t] = b
                t += 1
    return key, pos, np.argsort(key, kind="mergesort")


@njit(cache=True, nogil=True, parallel=True)
def augment_batch(nodes, out, outc, X, M, metric, keep_pruned, peers):
    """Between the two phases of a round: elements of ``nodes`` planned their links blind
    to each other (against the graph without them), so two close elements of one round
    would never link directly. Each element now also weighs, on each layer, the first
    ``peers`` other elements (in batch order) that planned a link to each of its planned
    neighbours, and the heuristic picks its ``M`` links again from its planned links and
    those. Rewrites ``out[b]``, ``outc[b]``; each element writes only its own row, so the
    result does not depend on the number of threads. link_batch then links both ways."""
    B = nodes.shape[0]
    L = out.shape[1]
    cap = np.int64(X.shape[0])
    key, src, order = _planned_links(out, outc, cap)
    E = key.shape[0]
    skey = key[order]
    ssrc = src[order]
    for b in prange(B):
        q = X[nodes[b]]
        for layer in range(L):
            n0 = outc[b, layer]
            if n0 == 0:
                continue
            ci = np.empty(n0 + n0 * peers, np.int32)
            nc = 0
            for j in range(n0):
                ci[nc] = out[b, layer, j]
                nc += 1
            for j in range(n0):
                k = layer * cap + out[b, layer, j]
                p = np.searchsorted(skey, k)
                taken = 0
                while p < E and skey[p] == k and taken < peers:
                    b2 = ssrc[p]
                    p += 1
                    if b2 == b:
                        continue
                    v = nodes[b2]
                    if not _contains(ci, nc, v):
                        ci[nc] = v
                        nc += 1
                    taken += 1
            if nc == n0:
                continue
            cd = np.empty(nc, np.float32)
            for j in range(nc):
                cd[j] = _dist_row(q, X, ci[j], metric)
            o = np.argsort(cd, kind="mergesort")
            outc[b, layer] = _prune(X, cd[o], ci[:nc][o], nc, M, metric, keep_pruned, out[b, layer])


@njit(cache=True, nogil=True, parallel=True)
def link_batch(nodes, out, outc, X, L0, c0, U, cu, offs, M, M0, metric, keep_pruned):
    """Phase 2 of a parallel insertion round: write the planned links of ``nodes`` and add
    the reverse links, grouped by target so that each target's list is rewritten (and
    shrunk with the heuristic) by exactly one thread. Results do not depend on the number
    of threads."""
    B = nodes.shape[0]
    L = out.shape[1]
    for b in prange(B):
        node = nodes[b]
        for j in range(outc[b, 0]):
            L0[node, j] = out[b, 0, j]
        c0[node] = outc[b, 0]
        for layer in range(1, L):
            if outc[b, layer] > 0:
                r = offs[node] + layer - 1
                for j in range(outc[b, layer]):
                    U[r, j] = out[b, layer, j]
                cu[r] = outc[b, layer]
    cap = np.int64(X.shape[0])
    key, pos, order = _planned_links(out, outc, cap)
    E = key.shape[0]
    src = nodes[pos]
    starts = np.empty(E + 1, np.int64)
    ng = 0
    for t in range(E):
        if t == 0 or key[order[t]] != key[order[t - 1]]:
            starts[ng] = t
            ng += 1
    starts[ng] = E
    for g in prange(ng):
        _link_group(starts[g], starts[g + 1], key, src, order, cap, X, L0, c0, U, cu, offs, M, M0,
                    metric, keep_pruned)


@njit(cache=True, nogil=True)
def _link_group(s0, s1, key, src, order, cap, X, L0, c0, U, cu, offs, M, M0, metric, keep_pruned):
    """Add the reverse links ``src[order[s0:s1]]`` to the one target they share."""
    kk = key[order[s0]]
    layer = kk // cap
    e = np.int32(kk - layer * cap)
    extra = np.empty(s1 - s0, np.int32)
    for t in range(s0, s1):
        extra[t - s0] = src[order[t]]
    row, cnt, ci = _links(L0, c0, U, cu, offs, e, layer)
    _shrink(X, row, cnt, ci, e, extra, s1 - s0, M0 if layer == 0 else M, metric, keep_pruned)


# --------------------------------------------------------------------------- repair after deletes
@njit(cache=True, nogil=True)
def _repair_node(node, dead, X, levels, L0, c0, U, cu, offs, M, M0, metric, keep_pruned):
    """Repair ``node``'s lists (see :func:`repair_links`); returns the links it dropped."""
    dropped = 0
    for layer in range(levels[node] + 1):
        row, cnt, ci = _links(L0, c0, U, cu, offs, node, layer)
        ne = cnt[ci]
        nd = 0
        for j in range(ne):
            if dead[row[j]]:
                nd += 1
        if nd == 0:
            continue
        dropped += nd
        mmax = M0 if layer == 0 else M
        cand = np.empty(ne + nd * mmax, np.int32)
        nc = 0
        for j in range(ne):
            if not dead[row[j]]:
                cand[nc] = row[j]
                nc += 1
        for j in range(ne):
            e = row[j]
            if not dead[e]:
                continue
            erow, ecnt, eci = _links(L0, c0, U, cu, offs, e, layer)
            for t in range(ecnt[eci]):
                f = erow[t]
                if not (dead[f] or f == node or _contains(cand, nc, f)):
                    cand[nc] = f
                    nc += 1
        cd = np.empty(nc, np.float32)
        for j in range(nc):
            cd[j] = _dist(X[node], X[cand[j]], metric)
        order = np.argsort(cd, kind="mergesort")
        cnt[ci] = _select_heuristic(X, cd[order], cand[:nc][order], nc, mmax, metric, keep_pruned, row)
    return dropped


@njit(cache=True, nogil=True, parallel=True)
def repair_links(dead, X, levels, L0, c0, U, cu, offs, n, M, M0, metric, keep_pruned):
    """Drop links to ``dead`` nodes from every live node's lists, replacing them with the
    dead neighbours' own live links (two hops through the removed node), chosen with the
    heuristic. Each live node rewrites only its own rows and reads only its own and dead
    rows, so nodes are repaired in parallel without races. Returns links dropped."""
    dropped = np.zeros(n, np.int64)
    for node in prange(n):
        if not dead[node]:
            dropped[node] = _repair_node(node, dead, X, levels, L0, c0, U, cu, offs, M, M0, metric,
                                         keep_pruned)
    return dropped.sum()


# --------------------------------------------------------------------------- K-NN-SEARCH (Alg. 5)
@njit(cache=True, nogil=True)
def _search_queries(Q, q0, q1, X, L0, c0, U, cu, offs, ep, k, ef, metric, mask, vis, tag, D, I):
    """Queries q0..q1 of Q into rows of (D, I), with one visited set; returns its tag."""
    n = mask.shape[0]
    ck, cv, rk, rv, wd, wi, eps = _search_buffers(n, ef)
    for qi in range(q0, q1):
        q = Q[qi]
        cur = np.int32(ep[0])
        curd = _dist(q, X[cur], metric)
        for layer in range(ep[1], 0, -1):
            cur, curd = _greedy(q, X, L0, c0, U, cu, offs, cur, curd, layer, metric)
        eps[0] = cur
        tag = _next_tag(vis, tag)
        nr = _search_layer(q, X, L0, c0, U, cu, offs, eps, 1, ef, 0, metric, vis, tag,
                           ck, cv, rk, rv, True, mask)
        nw = _drain_sorted(rk, rv, nr, wd, wi)
        for j in range(min(k, nw)):
            D[qi, j] = wd[j]
            I[qi, j] = wi[j]
    return tag


@njit(cache=True, nogil=True, parallel=True)
def search_batch(Q, X, L0, c0, U, cu, offs, ep, k, ef, metric, mask, vis, tags):
    """k nearest ``mask``-ed nodes of each query (Alg. 5); parallel over query chunks.

    ``mask`` (n,) bool: nodes that may be returned (live and passing the filter); every
    node is traversed, so a selective filter still finds k allowed nodes when they are
    reachable. ``vis`` (nchunks, >= n) uint32 and ``tags`` (nchunks,) are reusable visited
    sets, one per chunk of queries. Returns (D (nq, k) float32 ascending, I (nq, k) int64
    nodes), padded with inf / -1.
    """
    nq = Q.shape[0]
    nchunks = vis.shape[0]
    D = np.full((nq, k), np.inf, dtype=np.float32)
    I = np.full((nq, k), -1, dtype=np.int64)
    step = (nq + nchunks - 1) // nchunks
    for c in prange(nchunks):
        q0 = c * step
        q1 = min(nq, q0 + step)
        if q0 < q1:
            tags[c] = _search_queries(Q, q0, q1, X, L0, c0, U, cu, offs, ep, k, ef, metric, mask,
                                      vis[c], tags[c], D, I)
    return D, I


@njit(cache=True, nogil=True)
def search_one(Q, X, L0, c0, U, cu, offs, ep, k, ef, metric, mask, vis, tags):
    """``search_batch`` for one query, without starting the thread pool (one-query calls)."""
    D = np.full((Q.shape[0], k), np.inf, dtype=np.float32)
    I = np.full((Q.shape[0], k), -1, dtype=np.int64)
    tags[0] = _search_queries(Q, 0, Q.shape[0], X, L0, c0, U, cu, offs, ep, k, ef, metric, mask,
                              vis[0], tags[0], D, I)
    return D, I
