"""Temporal (continuous-time) edge streams: JODIE Wikipedia, CollegeMsg, Enron, Bitcoin OTC/Alpha."""

from __future__ import annotations

import numpy as np

from ._files import check_name, data_path, open_text

TEMPORAL_DATASETS = ("wikipedia", "collegemsg", "enron", "bitcoin-otc", "bitcoin-alpha")
_FILE = {
    "wikipedia": ("jodie_wikipedia", "wikipedia.csv.gz"),
    "collegemsg": ("collegemsg", "CollegeMsg.txt.gz"),
    "enron": ("enron", "ml_enron.txt.gz"),
    "bitcoin-otc": ("bitcoin_otc", "soc-sign-bitcoinotc.csv.gz"),
    "bitcoin-alpha": ("bitcoin_alpha", "soc-sign-bitcoinalpha.csv.gz"),
}


def _table(name: str, dtype) -> np.ndarray:
    path = data_path(*_FILE[name])
    with open_text(path) as f:
        delimiter = " " if name in ("collegemsg", "enron") else ","
        return np.loadtxt(f, delimiter=delimiter, dtype=dtype, ndmin=2,
                          skiprows=1 if name == "wikipedia" else 0)


def read_temporal_arrays(name: str) -> dict:
    """Read one bundled temporal edge stream as numpy arrays, events in time order.

    Rows are stably sorted by time (only Bitcoin-Alpha is not already sorted in the source).
    Node ids are made 0-based and contiguous; ``node_ids[k]`` is the source file's id of node k:

    - ``'wikipedia'`` (JODIE): bipartite; users 0..8226, pages ``8227 + page`` (8227..9226, the
      file already stores pages offset by the number of users); ``node_ids`` = identity;
      ``num_users`` = 8227. ``edge_label`` = JODIE's state-change (ban) label. The 172-d LIWC
      edge features of the original JODIE release are NOT in the bundled file, so
      ``edge_attr`` is None.
    - ``'collegemsg'``, ``'enron'``: source ids 1..N, node k = id k+1. Enron keeps its 16,410
      self-loop events; its times are seconds since the first event.
    - ``'bitcoin-otc'``, ``'bitcoin-alpha'``: the SNAP user ids that occur, sorted, mapped to
      0..N-1. ``edge_attr`` = rating in -10..10, ``edge_label`` = its sign (+1 trust, -1 distrust).

    Args:
        name: one of ``'wikipedia'``, ``'collegemsg'``, ``'enron'``, ``'bitcoin-otc'``,
            ``'bitcoin-alpha'`` (case-insensitive).

    Returns:
        dict with ``src``, ``dst`` int64 (E,); ``t`` (E,) int64 seconds, except Bitcoin-OTC whose
        source times carry fractional seconds: float64; ``edge_attr`` float32 (E, 1) or None;
        ``edge_label`` int64 (E,) or None; ``num_nodes`` int; ``node_ids`` int64 (N,);
        plus ``num_users`` for wikipedia. (E, N): wikipedia 157,474, 9,227; collegemsg 59,835,
        1,899; enron 125,235, 184; bitcoin-otc 35,592, 5,881; bitcoin-alpha 24,186, 3,783.

    Raises:
        ValueError: unknown name (the message lists the known ones).

    Data: S. Kumar, X. Zhang, J. Leskovec, *Predicting Dynamic Embedding Trajectory in Temporal
    Interaction Networks*, KDD 2019 (Wikipedia); P. Panzarasa, T. Opsahl, K. M. Carley, JASIST
    2009 (CollegeMsg); J. Shetty, J. Adibi 2004 via F. Poursafaei et al., *Towards Better
    Evaluation for Dynamic Link Prediction*, NeurIPS 2022 D&B (Enron); S. Kumar, F. Spezzano,
    V. S. Subrahmanian, C. Faloutsos, *Edge Weight Prediction in Weighted Signed Networks*,
    ICDM 2016 (Bitcoin OTC / Alpha).
    """
    name = check_name(name, TEMPORAL_DATASETS, "temporal")
    out = {"edge_attr": None, "edge_label": None}
    if name.startswith("bitcoin"):
        src, dst, rating, t = _table(name, np.float64).T  # integers exact in float64
        node_ids, inverse = np.unique(np.concatenate([src, dst]).astype(np.int64), return_inverse=True)
        src, dst = inverse[:len(src)], inverse[len(src):]
        if name == "bitcoin-alpha":
            t = t.astype(np.int64)
        out["edge_attr"] = rating.astype(np.float32)[:, None]
        out["edge_label"] = np.sign(rating).astype(np.int64)
    else:
        table = _table(name, np.int64)
        src, dst, t = table[:, 0], table[:, 1], table[:, 2]
        if name == "wikipedia":
            out["edge_label"] = table[:, 3]
            out["num_users"] = int(src.max()) + 1
            node_ids = np.arange(int(dst.max()) + 1, dtype=np.int64)
        else:
            node_ids = np.arange(1, int(max(src.max(), dst.max())) + 1, dtype=np.int64)
            src, dst = src - 1, dst - 1

    order = np.argsort(t, kind="stable")
    out.update(src=src[order], dst=dst[order], t=t[order], num_nodes=len(node_ids), node_ids=node_ids)
    for key in ("edge_attr", "edge_label"):
        if out[key] is not None:
            out[key] = out[key][order]
    return out


def load_temporal(name: str, directed: bool = False):
    """Load a bundled temporal edge stream as a ``native.TemporalGraph``.

    See ``read_temporal_arrays`` for the id mapping, time units and per-dataset fields.

    Args:
        name: ``'wikipedia'``, ``'collegemsg'``, ``'enron'``, ``'bitcoin-otc'`` or
            ``'bitcoin-alpha'`` (case-insensitive).
        directed: passed to ``TemporalGraph``. False (default) follows the usual temporal-GNN
            practice of letting both endpoints see an event; the source streams are directed
            (``src`` -> ``dst`` is kept in every case).

    Returns:
        ``native.TemporalGraph(src, dst, t, edge_attr=..., edge_label=..., num_nodes=N,
        directed=directed)`` with the arrays of ``read_temporal_arrays(name)``.

    Raises:
        ValueError: unknown name (the message lists the known ones).

    Data: see ``read_temporal_arrays``.
    """
    a = read_temporal_arrays(name)
    from native import TemporalGraph

    return TemporalGraph(a["src"], a["dst"], a["t"], edge_attr=a["edge_attr"], edge_label=a["edge_label"],
                         num_nodes=a["num_nodes"], directed=directed)
