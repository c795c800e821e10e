"""FastRP vs DeepWalk (PyG ``Node2Vec`` with p = q = 1) on BlogCatalog multi-label classification.

Both run in this process on the same threads. Reported: time to embeddings, Micro/Macro-F1
of one-vs-rest logistic regression at each training ratio (DeepWalk protocol: every test
node is given its true number of labels), and the speed ratio at comparable F1: Node2Vec's
training time until its Micro-F1 (at the first ratio) comes within ``--tol`` of FastRP's,
over FastRP's time.

PyG's ``Node2Vec`` draws its walks with ``torch.ops.pyg.random_walk`` (pyg-lib) and refuses
to start without pyg-lib. Where pyg-lib is missing (no wheel for this torch), this script
registers that operator itself, backed by a Numba uniform random walk, which is exactly
DeepWalk's walk (p = q = 1); model, loss, sampling and training are PyG's own code.

    python benchmarks/bench_fastrp.py                       # dim 512 FastRP, 128-d DeepWalk
    python benchmarks/bench_fastrp.py --small               # a quick run (fewer epochs/ratios)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402
from numba import njit, prange  # noqa: E402

from graphkit.datasets import load_blogcatalog  # noqa: E402
from graphkit.embed import FastRP, node_classification_f1  # noqa: E402


@njit(cache=True, parallel=True)
def _uniform_walks(rowptr, col, start, steps, seed):
    """(B, steps+1) uniform random walks; a node without neighbours stays where it is."""
    b = start.shape[0]
    out = np.empty((b, steps + 1), np.int64)
    for i in prange(b):
        np.random.seed(seed + i)
        v = start[i]
        out[i, 0] = v
        for t in range(1, steps + 1):
            deg = rowptr[v + 1] - rowptr[v]
            if deg > 0:
                v = col[rowptr[v] + np.random.randint(0, deg)]
            out[i, t] = v
    return out


_CALLS = [0]


def _random_walk(rowptr, col, seed, walk_length, p, q):
    if p != 1.0 or q != 1.0:
        raise NotImplementedError("this stand-in for pyg-lib draws uniform (DeepWalk) walks only")
    _CALLS[0] += 1
    walks = _uniform_walks(rowptr.numpy(), col.numpy(), seed.numpy(), int(walk_length), _CALLS[0] * 1_000_003)
    return torch.from_numpy(walks)


def node2vec_class():
    """PyG's Node2Vec, with a Numba ``pyg::random_walk`` registered when pyg-lib is absent."""
    import torch_geometric.nn.models.node2vec as n2v

    if not n2v.WITH_PYG_LIB:
        lib = torch.library.Library("pyg", "DEF")
        lib.define("random_walk(Tensor rowptr, Tensor col, Tensor seed, int walk_length, float p, float q) -> Tensor")
        lib.impl("random_walk", _random_walk, "CPU")
        node2vec_class.lib = lib  # keep the registration alive
        n2v.WITH_PYG_LIB = True
        print("pyg-lib missing: PyG Node2Vec runs on a Numba uniform random walk (DeepWalk, p = q = 1)")
    return n2v.Node2Vec


def evaluate(emb, labels, ratios, repeats, seed):
    return {r: node_classification_f1(emb, labels, r, repeats=repeats, seed=seed) for r in ratios}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small", action="store_true", help="2 Node2Vec epochs, ratios 0.1,0.5, 1 repeat")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dim", type=int, default=512, help="FastRP dimension")
    p.add_argument("--weights", default="0,0,1,6,36", help="FastRP alpha_1..alpha_k")
    p.add_argument("--beta", type=float, default=0.0)
    p.add_argument("--n2v-dim", type=int, default=128)
    p.add_argument("--walk-length", type=int, default=20)
    p.add_argument("--context", type=int, default=10)
    p.add_argument("--walks", type=int, default=10, help="walks per node per epoch")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.05, help="SparseAdam learning rate of Node2Vec")
    p.add_argument("--init-std", type=float, default=None,
                   help="re-initialise Node2Vec's embeddings N(0, std^2) (PyG: std 1; word2vec starts near 0)")
    p.add_argument("--ratios", default="0.1,0.5,0.9")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tol", type=float, default=0.01, help="Micro-F1 gap that counts as comparable")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    if a.small:
        a.epochs, a.ratios, a.repeats = 2, "0.1,0.5", 1
    from graphkit.experiments import set_threads

    set_threads(a.threads)
    ratios = [float(r) for r in a.ratios.split(",")]
    d = load_blogcatalog()
    ei, n, Y = torch.from_numpy(d["edge_index"]), d["num_nodes"], d["labels"]
    print(f"BlogCatalog: {n} nodes, {ei.shape[1]} directed edges, {Y.shape[1]} labels; "
          f"{a.threads} thread(s); ratios {ratios}, {a.repeats} split(s) each")

    # ---- FastRP
    fastrp = FastRP(dim=a.dim, weights=[float(w) for w in a.weights.split(",")], beta=a.beta)
    fastrp(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), 3)  # compile the Numba kernels outside the timing
    t0, c0 = time.perf_counter(), time.process_time()
    emb = fastrp(ei, n)
    t_fastrp, c_fastrp = time.perf_counter() - t0, time.process_time() - c0
    print(f"{fastrp!r}: {t_fastrp:.2f} s wall, {c_fastrp:.2f} s CPU", flush=True)
    res_fastrp = evaluate(emb, Y, ratios, a.repeats, a.seed)
    print("  " + ", ".join(f"{r:.0%}: {v['micro_f1']:.4f} / {v['macro_f1']:.4f}" for r, v in res_fastrp.items()),
          flush=True)

    # ---- DeepWalk = PyG Node2Vec, p = q = 1
    Node2Vec = node2vec_class()
    torch.manual_seed(0)
    model = Node2Vec(ei, embedding_dim=a.n2v_dim, walk_length=a.walk_length, context_size=a.context,
                     walks_per_node=a.walks, num_negative_samples=1, p=1.0, q=1.0, num_nodes=n, sparse=True)
    if a.init_std is not None:
        torch.nn.init.normal_(model.embedding.weight, std=a.init_std)
    loader = model.loader(batch_size=128, shuffle=True, num_workers=0)
    opt = torch.optim.SparseAdam(list(model.parameters()), lr=a.lr)
    _uniform_walks(np.array([0, 1, 2]), np.array([1, 0]), np.array([0]), 2, 0)  # compile
    t_train, c_train, reached, c_reached = 0.0, 0.0, None, None
    target = res_fastrp[ratios[0]]["micro_f1"] - a.tol
    for epoch in range(1, a.epochs + 1):
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        total = 0.0
        for pos, neg in loader:
            opt.zero_grad()
            loss = model.loss(pos, neg)
            loss.backward()
            opt.step()
            total += float(loss.detach())
        t_train += time.perf_counter() - t0
        c_train += time.process_time() - c0
        r = node_classification_f1(model().detach(), Y, ratios[0], repeats=a.repeats, seed=a.seed)
        print(f"  node2vec epoch {epoch}: loss {total / len(loader):.4f}, {t_train:.1f} s wall, {c_train:.1f} s CPU, "
              f"Micro-F1@{ratios[0]} {r['micro_f1']:.4f} Macro-F1 {r['macro_f1']:.4f}", flush=True)
        if reached is None and r["micro_f1"] >= target:
            reached, c_reached = t_train, c_train
    res_n2v = evaluate(model().detach(), Y, ratios, a.repeats, a.seed)

    # ---- table
    print("\n| method | time to embeddings, wall / CPU (s) | " + " | ".join(f"Micro/Macro-F1 @{r:.0%}" for r in ratios) + " |")
    print("|---|---|" + "---|" * len(ratios))
    for name, t, c, res in (("FastRP", t_fastrp, c_fastrp, res_fastrp),
                            ("DeepWalk (PyG Node2Vec)", t_train, c_train, res_n2v)):
        cells = " | ".join(f"{res[r]['micro_f1'] * 100:.2f} / {res[r]['macro_f1'] * 100:.2f}" for r in ratios)
        print(f"| {name} | {t:.2f} / {c:.2f} | {cells} |")
    if reached is not None:
        print(f"\nNode2Vec reached FastRP's Micro-F1@{ratios[0]} - {a.tol} after {reached:.1f} s wall "
              f"({c_reached:.1f} s CPU): FastRP is {reached / t_fastrp:.0f}x (CPU {c_reached / c_fastrp:.0f}x) "
              f"faster at comparable F1")
    else:
        print(f"\nNode2Vec did not reach FastRP's Micro-F1@{ratios[0]} - {a.tol} in {a.epochs} epochs "
              f"({t_train:.1f} s wall, {c_train:.1f} s CPU): FastRP is > {t_train / t_fastrp:.0f}x "
              f"(CPU > {c_train / c_fastrp:.0f}x) faster at comparable F1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
