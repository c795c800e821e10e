"""TokenGraphPool's dense GAT (``dense_gat``) against PyG ``GATConv`` on the edge list.

The two compute the same function (tests/graphkit/test_pool_token_graph.py checks it in
float64); this measures what each costs on one group of padded graphs: two GAT layers of
width 64 with ReLU, forward + backward, on random token graphs of a given fill (the share of
a group's padded pairs that are edges). It is where ``gat="auto"``'s rule comes from: a group
runs dense when its edges exceed ``DENSE_FILL`` of its pairs plus ``DENSE_MIN_EDGES``; the
``auto`` column says which path the rule picks.

    python benchmarks/bench_dense_gat.py                          # CPU, 1 thread
    python benchmarks/bench_dense_gat.py --memory                 # + peak memory of each path
    python benchmarks/bench_dense_gat.py --device cuda --memory

Peak memory is the peak resident set above its level before the step on the CPU (each
measurement in a fresh process, since that peak only grows; Linux), and
``torch.cuda.max_memory_allocated`` on CUDA.

Measured on the 2-core CPU machine (2026-12-06, 1 thread, best of 5, while one other
single-thread job ran on the second core; ``--memory --groups 64x16,32x64,4x300,1x620,1x2000``),
ms per step and MB:

        group  fill     edges  dense ms  edges ms edges/dense  dense MB  edges MB  auto
      64 x 16  0.02       309      3.34      4.54        1.36        13        15  edges
      64 x 16  0.05       798      3.01      4.23        1.41        14        16  edges
      64 x 16   0.1      1573      3.07      4.39        1.43        13        17  edges
      64 x 16   0.4      6049      3.09     14.42        4.67        13        25  dense
      32 x 64  0.02      2656      7.70      7.56        0.98        20        23  edges
      32 x 64  0.05      6495      6.98     15.27        2.19        20        28  edges
      32 x 64   0.1     12862      7.12     22.93        3.22        20        35  dense
      32 x 64   0.4     51249      8.08     96.57       11.96        20       102  dense
      4 x 300  0.02      7290     11.43      7.40        0.65        23        25  edges
      4 x 300  0.05     18091     13.01     16.35        1.26        19        41  edges
      4 x 300   0.1     35849     13.60     36.03        2.65        19        63  dense
      4 x 300   0.4    143348     17.61    415.64       23.60        23       204  dense
      1 x 620  0.02      7780     17.26     12.56        0.73        26        21  edges
      1 x 620  0.05     19327     12.09     13.57        1.12        26        46  edges
      1 x 620   0.1     38305     19.19     37.76        1.97        26        71  dense
      1 x 620   0.4    153185     17.52    387.04       22.09        21       220  dense
     1 x 2000  0.02     80415    130.30    140.03        1.07       125       112  edges
     1 x 2000  0.05    200643    129.03    550.19        4.26       140       278  edges
     1 x 2000   0.1    400563    122.47    942.51        7.70       141       554  dense
     1 x 2000   0.4   1598263    164.38   3852.20       23.43       124      2151  dense

From a fill of 0.05 the dense step was the faster (1.1-4.3x at 0.05, 1.4-7.7x at 0.1,
4.7-24x at 0.4) and the leaner. At 0.02 the edge list was 1.4-1.5x the faster on groups of
300 and 620 tokens, even at 2000, and the slower on many small graphs (64 x 16). So the
crossover lies between 0.02 and 0.05 in this run; an earlier run of the same step, from which
the constants were set, put it near 0.05. ``auto`` picks the edge list at exactly 0.05, so if
anything it errs toward the edge list.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

GROUPS = "64x16,32x64,4x300,1x620"
FILLS = "0.02,0.05,0.1,0.4"


def _case(G: int, m: int, fill: float, device: str, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    adj = torch.rand(G, m, m, generator=gen) < fill
    adj.diagonal(dim1=1, dim2=2).fill_(False)
    x = torch.randn(G * m, 64, generator=gen)
    return x.to(device), adj.to(device)


def _convs(heads: int, device: str):
    from torch_geometric.nn import GATConv

    torch.manual_seed(0)
    return [GATConv(64, 64, heads=heads, concat=False).to(device) for _ in range(2)]


def _step(mode: str, convs, x: torch.Tensor, adj: torch.Tensor) -> None:
    from graphkit.pool.token_graph import dense_gat

    G, m, _ = adj.shape
    x = x.detach().requires_grad_(True)
    h = x
    if mode == "dense":
        for c in convs:
            h = F.relu(dense_gat(c, h.view(G, m, -1), adj).reshape(G * m, -1))
    else:
        g, i, j = adj.nonzero(as_tuple=True)
        edge_index = torch.stack([g * m + i, g * m + j])
        for c in convs:
            h = F.relu(c(h, edge_index))
    h.square().sum().backward()


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def step_ms(mode: str, G: int, m: int, fill: float, device: str, heads: int, repeats: int) -> float:
    convs, (x, adj) = _convs(heads, device), _case(G, m, fill, device)
    _step(mode, convs, x, adj)                                         # warm-up
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        _step(mode, convs, x, adj)
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def peak_mb(mode: str, G: int, m: int, fill: float, device: str, heads: int) -> float:
    """Peak memory of one step above the level before it (CPU: in a fresh process)."""
    if device == "cuda":
        convs, (x, adj) = _convs(heads, device), _case(G, m, fill, device)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        _step(mode, convs, x, adj)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps([mode, G, m, fill, heads])],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM, KiB). Not getrusage's ru_maxrss: across
    exec that keeps the parent's peak, so a fresh process would start at the parent's."""
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM")).split()[1])


def _one(spec: str) -> None:
    mode, G, m, fill, heads = json.loads(spec)
    torch.set_num_threads(1)
    convs, (x, adj) = _convs(heads, "cpu"), _case(G, m, fill, "cpu")
    base = _peak_rss_kib()
    _step(mode, convs, x, adj)
    print((_peak_rss_kib() - base) / 1024)


def main(argv=None) -> int:
    from graphkit.pool.token_graph import dense_enough

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--groups", default=GROUPS, help="GxM,...: G graphs padded to M tokens")
    p.add_argument("--fills", default=FILLS)
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--memory", action="store_true", help="also measure each path's peak memory")
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one:
        _one(a.one)
        return 0
    if a.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device")
        return 1
    torch.set_num_threads(a.threads)
    groups = [tuple(int(v) for v in s.lower().split("x")) for s in a.groups.split(",")]
    fills = [float(f) for f in a.fills.split(",")]
    head = f"{'group':>9} {'fill':>5} {'edges':>9} {'dense ms':>9} {'edges ms':>9} {'edges/dense':>11}"
    print(f"# {a.device}, {a.threads} thread(s), heads {a.heads}, 2 GAT layers of 64, forward + backward, "
          f"best of {a.repeats}")
    print(head + (f" {'dense MB':>9} {'edges MB':>9}" if a.memory else "") + "  auto")
    for G, m in groups:
        for fill in fills:
            _, adj = _case(G, m, fill, "cpu")
            edges = int(adj.sum())
            auto = "dense" if dense_enough(adj) else "edges"
            d = step_ms("dense", G, m, fill, a.device, a.heads, a.repeats)
            e = step_ms("edges", G, m, fill, a.device, a.heads, a.repeats)
            row = f"{f'{G} x {m}':>9} {fill:>5} {edges:>9} {d:>9.2f} {e:>9.2f} {e / d:>11.2f}"
            if a.memory:
                row += (f" {peak_mb('dense', G, m, fill, a.device, a.heads):>9.0f}"
                        f" {peak_mb('edges', G, m, fill, a.device, a.heads):>9.0f}")
            print(row + f"  {auto}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
