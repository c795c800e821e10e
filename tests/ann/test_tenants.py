"""TenantIndex: tenant isolation, grants and revocations, exactness against brute force per
tenant on MNIST-10k, the tree / Bloom kernels, files."""

import numpy as np
import pytest

import ann
from ann import _tenant_kernels as tk
from ann.evaluate import recall_at_k
from ann.tenants import TenantIndex, _hash2
from native.container import CorruptFileError

T = 24


@pytest.fixture(scope="module")
def data(mnist10k):
    rng = np.random.default_rng(3)
    n = 3000
    X = mnist10k["base"][:n]
    p = 1.0 / np.arange(1, T + 1)
    first = rng.choice(T, n, p=p / p.sum())
    second = rng.integers(0, T, n)
    owners = [[a, b] if r < 0.2 else [a] for a, b, r in zip(first, second, rng.random(n))]
    return X, mnist10k["query"][:80], owners


def members(owners, t):
    return np.array([i for i, ts in enumerate(owners) if t in ts], np.int64)


def exact(X, Q, rows, k):
    d = ((X[rows][None, :, :].astype(np.float64) - Q[:, None, :]) ** 2).sum(-1)
    o = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, o, 1), rows[o]


@pytest.fixture(scope="module")
def index(data):
    X, _, owners = data
    idx = TenantIndex(784, leaf_size=64, shortlist_size=32)
    idx.add(X, tenants=owners)
    return idx


def test_exact_when_budget_covers_the_tenant(data, index):
    X, Q, owners = data
    for t in (0, 1, 5, T - 1):
        rows = members(owners, t)
        D, I = index.search(Q[:20], 10, tenant=t, budget=len(X))
        Dr, _ = exact(X, Q[:20], rows, 10)
        kk = min(10, rows.size)
        assert np.allclose(D[:, :kk], Dr[:, :kk], rtol=1e-5, atol=0.5)
        assert np.isin(I[I >= 0], rows).all()


def test_only_the_tenants_vectors_and_good_recall(data, index):
    X, Q, owners = data
    tq = np.arange(len(Q)) % T
    D, I = index.search(Q, 10, tenant=tq, budget=128)
    gt = np.full((len(Q), 10), -1)
    for t in range(T):
        rows = members(owners, t)
        qs = np.flatnonzero(tq == t)
        assert np.isin(I[qs][I[qs] >= 0], rows).all(), f"tenant {t} got a foreign vector"
        gt[qs] = exact(X, Q[qs], rows, 10)[1]
    assert recall_at_k(I, gt) > 0.9


def test_revoked_vector_is_never_returned(data):
    X, Q, owners = data
    idx = TenantIndex(784, leaf_size=64, shortlist_size=32)
    idx.add(X, tenants=owners)
    t = 0
    _, I = idx.search(Q[:30], 5, tenant=t, budget=len(X))
    revoked = np.unique(I[I >= 0])
    other = 10**6  # a second tenant that keeps access to the same vectors
    for i in revoked:
        idx.grant(int(i), other)
        idx.revoke(int(i), t)
    for budget in (8, 64, len(X)):
        _, I2 = idx.search(Q[:30], 10, tenant=t, budget=budget)
        assert not np.isin(I2, revoked).any()
    idx.rebuild()  # also after the Bloom filters are rebuilt without the revoked bits
    _, I2 = idx.search(Q, 10, tenant=t, budget=len(X))
    assert not np.isin(I2, revoked).any()
    _, I3 = idx.search(Q[:30], 5, tenant=other, budget=len(X))
    assert set(np.unique(I3[I3 >= 0])) <= set(revoked.tolist())
    # grant back: found again by the exact search
    idx.grant(int(revoked[0]), t)
    assert int(revoked[0]) in idx.search(Q[:30], 5, tenant=t, budget=len(X))[1]
    assert t in idx.tenants_of(int(revoked[0]))


def test_remove_hides_from_every_tenant(data):
    X, Q, owners = data
    idx = TenantIndex(784, leaf_size=64, shortlist_size=32)
    idx.add(X, tenants=owners)
    _, I = idx.search(Q[:20], 5, tenant=1, budget=len(X))
    gone = np.unique(I[I >= 0])
    idx.remove(gone)
    assert idx.ntotal == len(X) - gone.size
    for t in range(T):
        _, I2 = idx.search(Q[:20], 10, tenant=t, budget=len(X))
        assert not np.isin(I2, gone).any()
    with pytest.raises(KeyError):
        idx.grant(int(gone[0]), 1)


def test_filter_and_small_tenants(data, index):
    X, Q, owners = data
    t = T - 1
    rows = members(owners, t)
    D, I = index.search(Q[:3], rows.size + 5, tenant=t, filter=rows[::2])
    assert set(I[0][I[0] >= 0]) == set(rows[::2].tolist())
    assert (I[:, rows[::2].size:] == -1).all()


def test_save_load_round_trip(tmp_path, data, index):
    _, Q, _ = data
    tq = np.arange(len(Q)) % T
    D, I = index.search(Q, 10, tenant=tq, budget=64)
    p = tmp_path / "t.ann"
    index.save(p)
    back = ann.load(p)
    assert isinstance(back, TenantIndex) and back.n_grants == index.n_grants
    D2, I2 = back.search(Q, 10, tenant=tq, budget=64)
    assert np.array_equal(I, I2) and np.array_equal(D, D2)
    raw = bytearray(p.read_bytes())
    raw[-40] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError):
        ann.load(p)


def test_errors(index):
    Q = np.zeros((1, 784), np.float32)
    with pytest.raises(ValueError, match="needs tenant="):
        index.search(Q, 1)
    with pytest.raises(KeyError, match="unknown tenant 999"):
        index.search(Q, 1, tenant=999)
    with pytest.raises(TypeError, match="tenants must be integers"):
        index.search(Q, 1, tenant="a")
    with pytest.raises(ValueError, match="budget must be >= 1"):
        index.search(Q, 1, tenant=0, budget=0)
    with pytest.raises(KeyError, match="has no access"):
        index.revoke(0, 10**7)
    with pytest.raises(ValueError, match="expected 2 tenants"):
        TenantIndex(4).add(np.zeros((2, 4)), tenants=np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="branching must be >= 2"):
        TenantIndex(4, branching=1)


@pytest.mark.parametrize("ip", [False, True])
def test_tree_kernels_against_numpy(rng, ip):
    X = rng.normal(size=(400, 8)).astype(np.float32)
    idx = TenantIndex(8, metric="ip" if ip else "l2", branching=4, leaf_size=20)
    idx.train(X)
    C = idx._C
    d = (1 - X @ C.T) if ip else ((X[:, None, :] - C[None]) ** 2).sum(-1)
    leaves = tk.route(X, C, idx._child_start, idx._child_count, ip)
    for i in range(0, 400, 37):  # greedy descent, written out
        node = 0
        while idx._child_count[node]:
            kids = np.arange(idx._child_start[node], idx._child_start[node] + idx._child_count[node])
            node = kids[np.argmin(d[i, kids])]
        assert leaves[i] == node


def test_bloom_filters_have_no_false_negatives(rng):
    words = np.zeros(64, np.int64)
    off = np.array([0, 16], np.int64)
    nw = np.array([16, 48], np.int64)
    keys = rng.integers(0, 10**9, 200)
    h = np.array([_hash2(int(t)) for t in keys], np.int64)
    tk.bloom_fill(words, off, nw, np.zeros(100, np.int64), h[:100, 0], h[:100, 1], 4)
    assert all(tk.bloom_has(words, 0, 16, a, b, 4) for a, b in h[:100])
    fp = np.mean([tk.bloom_has(words, 0, 16, a, b, 4) for a, b in h[100:]])
    assert fp < 0.1  # 1024 bits for 100 keys: ~1 % expected
    assert not any(tk.bloom_has(words, 16, 48, a, b, 4) for a, b in h)  # other node untouched


def test_shortlists_partition_each_tenant(data, index):
    _, _, owners = data
    for t in (0, 3, T - 1):
        nodes, ptr, rows = index._shortlist(t)
        assert np.array_equal(np.sort(index._labels[rows]), members(owners, t))  # each vector once
        assert (np.diff(nodes) > 0).all()
        sizes = np.diff(ptr)
        leafy = index._child_count[nodes] == 0
        assert (sizes[~leafy] <= index.shortlist_size).all()


def test_cli_build_and_query(tmp_path, data, capsys):
    from ann.cli import main
    from native.vecio import read_vectors, write_vectors

    X, Q, owners = data
    first = np.array([ts[0] for ts in owners], np.int64)
    write_vectors(str(tmp_path / "b.fvecs"), X[:1000])
    write_vectors(str(tmp_path / "q.fvecs"), Q[:10])
    np.save(tmp_path / "t.npy", first[:1000, None])  # (n, 1), as --ids
    assert main(["build", "--data", str(tmp_path / "b.fvecs"), "--kind", "tenant", "--tenants",
                 str(tmp_path / "t.npy"), "-o", str(tmp_path / "t.ann"), "--quiet"]) == 0
    assert main(["query", str(tmp_path / "t.ann"), "--queries", str(tmp_path / "q.fvecs"), "--tenant", "2",
                 "--budget", "1000", "-k", "5", "-o", str(tmp_path / "r.npy"), "--quiet"]) == 0
    I = read_vectors(str(tmp_path / "r.npy"))
    rows = np.flatnonzero(first[:1000] == 2)
    assert np.array_equal(I, exact(X, Q[:10], rows, 5)[1])
    assert main(["info", str(tmp_path / "t.ann"), "--json"]) == 0
    assert '"kind": "tenant"' in capsys.readouterr().out


def test_find_sorted_against_numpy(rng):
    vals = np.unique(rng.integers(0, 200, 80))
    for v in range(-2, 203):
        for s, e in ((0, vals.size), (5, 30), (10, 10)):
            sub = vals[s:e]
            want = s + int(np.flatnonzero(sub == v)[0]) if (sub == v).any() else -1
            assert tk.find_sorted(vals, s, e, v) == want
