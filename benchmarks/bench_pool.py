"""Training throughput (graphs/s) of the graphkit.pool layers vs PyG TopKPooling.

Every model is the runner's GIN backbone (graphkit.experiments.graph_classification) with
one readout; one training step = forward + backward + Adam on a batch of real PROTEINS
graphs. ``token_graph`` is TokenGraphPool used as a readout over the last layer's node
states, as in the runner (its own task, sentence pooling, is in graphkit.pool.distractor).
Ratios are throughput / TopKPooling's in the same run, on the same device.

    python benchmarks/bench_pool.py                       # CPU (and CUDA when available)
    python benchmarks/bench_pool.py --device cpu --graphs 512 --steps 20 --plot pool.png

Measured on an H100 (``bash benchmarks/gpu_figures.sh``, 2026-12-06; PROTEINS, batch 64),
graphs/s as a ratio to TopKPooling's on the same device:

    model        CUDA (1024 graphs, 32 steps)   CPU, 1 thread (512 graphs, 16 steps)
    topk         1.00 (4,646 graphs/s)          1.00 (2,058 graphs/s)
    mean         2.41                           0.90
    sag          0.94                           0.78
    gmt          0.90                           0.26
    histograph   0.72                           0.38
    hyperdrop    0.43                           0.21
    rpn          0.23 *                         0.07 *
    token_graph  0.96 **                        0.15 **

* before RegionProposalPool's packed attention (2214862), which made rpn's CPU step 2.4x
  faster (0.06x -> 0.15x TopK on a 2-core machine); its GPU figure is not measured since.
** before token_similarity_graph built the token graph per group of similar-size graphs
  instead of padding the batch to its largest graph: TokenGraphPool's CPU step became
  1.3-1.45x faster (0.13-0.14x -> 0.18-0.19x TopK, 4 runs each, old and new alternating, on a
  2-core machine), and before its GAT layers ran dense per size group where the token graph
  is dense (6b515aa): the runner's folds (3 thresholds) became 1.1x (MUTAG, NCI1), 1.7x
  (PROTEINS) and 1.9x (IMDB-BINARY) faster, and in one process the training step 1.03-1.85x
  (PROTEINS 1.18x) against the edge-list GAT. Its GPU figure is not measured since.

A model that fails is reported on its own line and the others still run (exit status 1).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from graphkit.experiments.graph_classification import GraphClassifier, _loss, load_dataset

MODELS = ("topk", "mean", "sag", "gmt", "histograph", "hyperdrop", "rpn", "token_graph")


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def throughput(model_name: str, graphs, device: str, batch_size: int, steps: int, warmup: int = 3) -> float:
    from torch_geometric.loader import DataLoader

    torch.manual_seed(0)
    f, c = graphs[0].x.shape[1], int(max(int(g.y) for g in graphs)) + 1
    model = GraphClassifier(f, c, model_name)
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    batches = [b.to(device) for b in DataLoader(graphs, batch_size=batch_size, shuffle=False)]
    n, t = 0, 0.0
    for i in range(warmup + steps):
        b = batches[i % len(batches)]
        _sync(device)
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = _loss(model, b, 0.1, gen) if model_name != "token_graph" else F.cross_entropy(model(b), b.y)
        loss.backward()
        opt.step()
        _sync(device)
        if i >= warmup:
            t += time.perf_counter() - t0
            n += b.num_graphs
    return n / t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="PROTEINS")
    p.add_argument("--graphs", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cpu, and cuda when available)")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--plot", default=None)
    a = p.parse_args(argv)
    from graphkit.experiments import set_threads

    set_threads(a.threads)  # torch and Numba: a Numba kernel would reset torch's alone
    graphs = load_dataset(a.dataset)[: a.graphs]
    devices = [a.device] if a.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    if "topk" not in models:
        models.insert(0, "topk")
    rows = {}
    print(f"# {a.dataset}, {len(graphs)} graphs, batch {a.batch_size}, {a.steps} timed steps, "
          f"{a.threads} CPU thread(s)")
    print(f"{'device':6s} {'model':12s} {'graphs/s':>10s} {'vs TopK':>8s}")
    failed = 0
    for dev in devices:
        for m in models:  # topk first, so each row prints as soon as it is measured
            try:
                rows[(dev, m)] = throughput(m, graphs, dev, a.batch_size, a.steps)
            except Exception as e:  # one broken layer must not hide the others' figures
                failed += 1
                print(f"{dev:6s} {m:12s} failed: {type(e).__name__}: {e}", flush=True)
                continue
            base = rows.get((dev, "topk"))
            ratio = f"{rows[(dev, m)] / base:8.2f}" if base else f"{'-':>8s}"
            print(f"{dev:6s} {m:12s} {rows[(dev, m)]:10.1f} {ratio}", flush=True)
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
        w = 0.8 / len(devices)
        for j, dev in enumerate(devices):
            ax.bar([i + j * w for i in range(len(models))], [rows.get((dev, m), 0.0) for m in models], w, label=dev)
        ax.set_xticks([i + 0.4 - w / 2 for i in range(len(models))], models, rotation=30)
        ax.set_ylabel("training graphs/s")
        ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
