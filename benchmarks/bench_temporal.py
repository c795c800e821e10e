"""Temporal-graph benchmarks: ours vs PyG's TGN per-epoch time, the PRES batch-size curve,
NAT vs TGN, and the N-cache kernels (Numba vs torch, CUDA when present).

    python benchmarks/bench_temporal.py epoch --dataset collegemsg            # TGN vs PyG TGN s/epoch
    python benchmarks/bench_temporal.py pres-curve --batch-sizes 200,400,800  # AP and s/epoch, PRES on/off
        (--lr-scale linear: the learning rate grows with the batch)
    python benchmarks/bench_temporal.py nat                                   # NAT vs TGN: AP, s/epoch
    python benchmarks/bench_temporal.py nat --device cuda                     # the same on the GPU
    python benchmarks/bench_temporal.py ncache                                # N-cache update/lookup throughput

Every section prints a table with ratios (ours / peer, or against batch 200); ``--png`` writes
the PRES curve. ``--max-events`` cuts the stream for a quick run. Not part of the test run.

``nat --device cuda --epochs 3`` on an H100 (``bash benchmarks/gpu_figures.sh``, 2026-12-06;
s/epoch without the first epoch):

    dataset      NAT s/epoch  TGN s/epoch  NAT / TGN  test AP NAT  test AP TGN
    collegemsg   1.4          2.2          0.66x      0.9036       0.8292
    enron        2.5          4.3          0.58x      0.9166       0.7119
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _load(args):
    from graphkit.datasets import load_temporal
    from graphkit.temporal import link_split

    g = load_temporal(args.dataset)
    if args.max_events:
        g = g[:args.max_events]
    return g, link_split(g, seed=0)


def _fit(model, g, split, args, batch_size, lr=None):
    from graphkit.temporal import fit_link_prediction

    torch.manual_seed(args.seed)
    model = model.to(args.device)
    return fit_link_prediction(model, g, split, epochs=args.epochs, batch_size=batch_size, lr=lr or args.lr, seed=args.seed,
                               eval_batch_size=200)


def _seconds(r) -> float:
    """Mean seconds per epoch, leaving out the first (compilation, CUDA start-up) when there are more."""
    s = r["epoch_seconds"]
    return float(np.mean(s[1:] if len(s) > 1 else s))


def bench_epoch(args):
    from graphkit.temporal import TGN, PyGTGN

    g, split = _load(args)
    rows = []
    for name, cls in (("graphkit TGN", TGN), ("PyG TGN", PyGTGN)):
        r = _fit(cls(g.num_nodes), g, split, args, args.batch_size)
        rows.append((name, _seconds(r), r["test"]["ap"]))
    print(f"{'model':14s} {'s/epoch':>8s} {'test AP':>8s}")
    for name, s, ap in rows:
        print(f"{name:14s} {s:8.1f} {ap:8.4f}")
    print(f"time ratio ours / PyG: {rows[0][1] / rows[1][1]:.2f}x; AP difference {100 * (rows[0][2] - rows[1][2]):+.2f} points")


def bench_pres_curve(args):
    from graphkit.temporal import PRES, TGN

    g, split = _load(args)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    res = {}
    print(f"{'model':6s} {'batch':>5s} {'test AP':>8s} {'s/epoch':>8s} {'AP - AP@' + str(sizes[0]):>12s} {'speed-up':>9s}")
    for name, cls in (("tgn", TGN), ("pres", PRES)):
        for b in sizes:
            lr = args.lr * b / sizes[0] if args.lr_scale == "linear" else args.lr
            r = _fit(cls(g.num_nodes, coherence_weight=args.pres_coherence) if name == "pres" else cls(g.num_nodes),
                     g, split, args, b, lr)
            res[name, b] = (r["test"]["ap"], _seconds(r))
            ap0, s0 = res[name, sizes[0]]
            print(f"{name:6s} {b:5d} {res[name, b][0]:8.4f} {res[name, b][1]:8.1f} "
                  f"{100 * (res[name, b][0] - ap0):+12.2f} {s0 / res[name, b][1]:8.2f}x", flush=True)
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        for name in ("tgn", "pres"):
            ax.plot(sizes, [100 * res[name, b][0] for b in sizes], "o-", label="TGN + PRES" if name == "pres" else "TGN")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.set_xlabel("temporal batch size")
        ax.set_ylabel("test AP (%)")
        ax.set_title(args.dataset)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.png, dpi=120)
        print(f"wrote {args.png}")


def bench_nat(args):
    from graphkit.temporal import NAT, TGN

    g, split = _load(args)
    rows = []
    for name, model, lr in (("NAT", NAT(g.num_nodes), args.nat_lr), ("TGN", TGN(g.num_nodes), args.lr)):
        r = _fit(model, g, split, args, args.batch_size, lr)
        rows.append((name, _seconds(r), r["test"]["ap"]))
        print(f"{name:4s} {rows[-1][1]:8.1f} s/epoch  test AP {rows[-1][2]:.4f}", flush=True)
    print(f"NAT / TGN time: {rows[0][1] / rows[1][1]:.2f}x; AP difference {100 * (rows[0][2] - rows[1][2]):+.2f} points")


def bench_ncache(args):
    from graphkit.temporal.nat import NCache

    g, _ = _load(args)
    src, dst = np.asarray(g.src), np.asarray(g.dst)
    B = args.batch_size
    devices = [("numba", "cpu"), ("torch", "cpu")] + ([("torch", "cuda"), ("cuda", "cuda")] if torch.cuda.is_available() else [])
    base = None
    print(f"{'backend':12s} {'events/s update':>16s} {'pairs/s lookup':>15s}")
    for backend, dev in devices:
        c = NCache(g.num_nodes, size1=16, size2=16, dim=16, device=dev, backend=backend)
        vals = torch.randn(B, 16, device=dev)
        c.update(src[:B], dst[:B], vals, vals)  # compile / warm up
        c.pair_features(src[:B], dst[:B])
        c.reset()
        t0 = time.perf_counter()
        for a in range(0, src.size - B + 1, B):
            c.update(src[a:a + B], dst[a:a + B], vals, vals)
        if dev == "cuda":
            torch.cuda.synchronize()
        t_up = time.perf_counter() - t0
        t0 = time.perf_counter()
        for a in range(0, src.size - B + 1, B):
            c.pair_features(src[a:a + B], dst[a:a + B])
        if dev == "cuda":
            torch.cuda.synchronize()
        t_lk = time.perf_counter() - t0
        n = (src.size // B) * B
        rate = (n / t_up, n / t_lk)
        base = base or rate
        print(f"{backend + '/' + dev:12s} {rate[0]:16,.0f} {rate[1]:15,.0f}  ({rate[0] / base[0]:.2f}x, {rate[1] / base[1]:.2f}x of numba)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("section", choices=("epoch", "pres-curve", "nat", "ncache"))
    p.add_argument("--dataset", default="collegemsg")
    p.add_argument("--max-events", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--batch-sizes", default="200,400,800")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--lr-scale", default="none", choices=("none", "linear"),
                   help="pres-curve: lr x batch / (first batch size) for the larger batches")
    p.add_argument("--pres-coherence", type=float, default=0.1, help="pres-curve: PRES's coherence weight")
    p.add_argument("--nat-lr", type=float, default=1e-3, help="NAT's learning rate in the nat section")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="torch device of the models (cpu, cuda)")
    p.add_argument("--png", default=None)
    args = p.parse_args(argv)
    from graphkit.experiments import set_threads

    set_threads(args.threads)  # torch and Numba: a Numba kernel would reset torch's alone
    {"epoch": bench_epoch, "pres-curve": bench_pres_curve, "nat": bench_nat, "ncache": bench_ncache}[args.section](args)


if __name__ == "__main__":
    main()
