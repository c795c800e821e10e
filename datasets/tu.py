"""TU Dortmund graph-classification benchmarks (MUTAG, PROTEINS, ENZYMES, NCI1, IMDB-BINARY)."""

from __future__ import annotations

import numpy as np

from ._files import check_name, data_path, open_text

TU_DATASETS = ("MUTAG", "PROTEINS", "ENZYMES", "NCI1", "IMDB-BINARY")
_FOLDER = {"MUTAG": "mutag", "PROTEINS": "proteins", "ENZYMES": "enzymes", "NCI1": "nci1",
           "IMDB-BINARY": "imdb_binary"}


def _read(name: str, part: str, dtype) -> np.ndarray | None:
    """``<name>_<part>.txt.gz`` as a 2-D array, or None when the dataset has no such part."""
    path = data_path(_FOLDER[name], f"{name}_{part}.txt.gz")
    if part not in ("A", "graph_indicator", "graph_labels") and not path.is_file():
        return None
    with open_text(path) as f:
        return np.loadtxt(f, delimiter=",", dtype=dtype, ndmin=2)


def _one_hot_columns(labels: np.ndarray) -> np.ndarray:
    """One-hot each label column after shifting it to start at 0, then concatenate (as PyG)."""
    labels = labels - labels.min(axis=0)
    return np.concatenate([np.eye(col.max() + 1, dtype=np.float32)[col] for col in labels.T], axis=1)


def _features(attributes: np.ndarray | None, labels: np.ndarray | None) -> np.ndarray | None:
    parts = [a for a in (attributes, None if labels is None else _one_hot_columns(labels)) if a is not None]
    return np.concatenate(parts, axis=1).astype(np.float32) if parts else None


def _read_tu(name: str) -> dict:
    """All graphs of one TU dataset as block arrays (numpy) plus per-graph offsets."""
    edge_index = _read(name, "A", np.int64).T - 1
    batch = _read(name, "graph_indicator", np.int64)[:, 0] - 1
    x = _features(_read(name, "node_attributes", np.float64), _read(name, "node_labels", np.int64))
    edge_attr = _features(_read(name, "edge_attributes", np.float64), _read(name, "edge_labels", np.int64))
    _, y = np.unique(_read(name, "graph_labels", np.int64)[:, 0], return_inverse=True)

    # remove self-loops, then coalesce: sort by (row, col), merge duplicates summing edge_attr
    keep = edge_index[0] != edge_index[1]
    edge_index = edge_index[:, keep]
    num_nodes = len(batch)
    key = edge_index[0] * num_nodes + edge_index[1]
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.concatenate([[True], key[1:] != key[:-1]])
    edge_index = edge_index[:, order][:, first]
    if edge_attr is not None:
        edge_attr = np.add.reduceat(edge_attr[keep][order], np.flatnonzero(first), axis=0)

    node_ptr = np.concatenate([[0], np.cumsum(np.bincount(batch))])
    edge_ptr = np.concatenate([[0], np.cumsum(np.bincount(batch[edge_index[0]], minlength=len(y)))])
    return {"x": x, "edge_index": edge_index - node_ptr[batch[edge_index[0]]], "edge_attr": edge_attr,
            "y": y.astype(np.int64), "node_ptr": node_ptr, "edge_ptr": edge_ptr}


def load_tu(name: str) -> list:
    """Load a TU graph-classification dataset as a list of PyG ``Data`` graphs.

    Built exactly as PyG's ``read_tu_data`` / ``TUDataset(use_node_attr=True,
    use_edge_attr=True)``: ``x`` = continuous node attributes (ENZYMES 18, PROTEINS 1) followed
    by the one-hot node labels; ``edge_attr`` = one-hot edge labels (MUTAG's 4 bond types);
    self-loops removed and duplicate adjacency lines merged (IMDB-BINARY lists every edge
    twice); graph labels mapped to 0..C-1 in sorted order (MUTAG: -1 -> 0, 1 -> 1).

    Args:
        name: ``'MUTAG'``, ``'PROTEINS'``, ``'ENZYMES'``, ``'NCI1'`` or ``'IMDB-BINARY'``
            (case-insensitive).

    Returns:
        list of ``torch_geometric.data.Data``, one per graph, with ``edge_index`` int64 (2, E_i)
        (node ids local to the graph, both directions), ``x`` float32 (N_i, F) (None for
        IMDB-BINARY, which has no node labels; ``num_nodes`` is set), ``edge_attr`` float32
        (E_i, 4) for MUTAG (else None) and ``y`` int64 (1,). Graphs / F: MUTAG 188 / 7,
        PROTEINS 1,113 / 1 + 3, ENZYMES 600 / 18 + 3, NCI1 4,110 / 37, IMDB-BINARY 1,000 / -.

    Raises:
        ValueError: unknown name (the message lists the known ones).

    Data: K. Kersting, N. M. Kriege, C. Morris, P. Mutzel, M. Neumann, *Benchmark Data Sets for
    Graph Kernels* (TU Dortmund), with the per-dataset references in each folder's README /
    SOURCE.md — MUTAG: Debnath et al., J. Med. Chem. 1991; PROTEINS: Borgwardt et al.,
    Bioinformatics 2005 and Dobson & Doig, J. Mol. Biol. 2003; ENZYMES: Borgwardt et al. 2005;
    NCI1: Wale & Karypis, ICDM 2006; IMDB-BINARY: Yanardag & Vishwanathan, KDD 2015.
    """
    name = check_name(name, TU_DATASETS, "TU")
    a = _read_tu(name)
    import torch
    from torch_geometric.data import Data

    node_ptr, edge_ptr = a["node_ptr"], a["edge_ptr"]
    x = None if a["x"] is None else torch.from_numpy(a["x"])
    edge_attr = None if a["edge_attr"] is None else torch.from_numpy(a["edge_attr"])
    edge_index, y = torch.from_numpy(a["edge_index"]), torch.from_numpy(a["y"])
    graphs = []
    for g in range(len(y)):
        n0, n1, e0, e1 = node_ptr[g], node_ptr[g + 1], edge_ptr[g], edge_ptr[g + 1]
        graphs.append(Data(
            x=None if x is None else x[n0:n1],
            edge_index=edge_index[:, e0:e1],
            edge_attr=None if edge_attr is None else edge_attr[e0:e1],
            y=y[g:g + 1],
            num_nodes=int(n1 - n0),
        ))
    return graphs
