"""Planetoid citation graphs (Cora, CiteSeer, PubMed) with the public split."""

from __future__ import annotations

import collections
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._files import check_name, data_path, require
from ._graph import undirected_edge_index

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

PLANETOID = ("cora", "citeseer", "pubmed")

# The Planetoid pickles (written by Python 2) reference only these globals; nothing else is
# unpickled, so a folder passed as ``root`` cannot run code.
_PICKLE_GLOBALS = {
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("scipy.sparse.csr", "csr_matrix"): sp.csr_matrix,
    ("collections", "defaultdict"): collections.defaultdict,
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
}


class _PlanetoidUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"Planetoid file refers to {module}.{name}, which is not a numpy/scipy array type"
            ) from None


def _read_pickle(path: Path):
    with open(require(path), "rb") as f:
        return _PlanetoidUnpickler(f, encoding="latin1").load()


def _dense(a) -> np.ndarray:
    return (a.toarray() if sp.issparse(a) else np.asarray(a)).astype(np.float32)


@dataclass(repr=False)
class PlanetoidDataset:
    """One Planetoid citation graph with its public split (numpy arrays).

    Attributes:
        name: ``'cora'``, ``'citeseer'`` or ``'pubmed'``.
        num_nodes: N.
        edge_index: int64 (2, E), undirected (both directions stored), no duplicates,
            no self-loops (removed, as PyG's ``Planetoid`` does), sorted by (row, col).
        x: float32 (N, F) bag-of-words / TF-IDF features; zero rows where unknown.
        y: int64 (N,) class ids; 0 for CiteSeer's 15 unlabelled test-range nodes (as in PyG).
        train_mask, val_mask, test_mask: bool (N,), the public split (20 per class / 500 / 1000).
        num_classes: C.
        x_available: bool (N,), False for nodes whose feature row is not in the bundle
            (PubMed's non-training, non-test nodes; CiteSeer's 15 isolated test-range nodes).
    """

    name: str
    num_nodes: int
    edge_index: np.ndarray
    x: np.ndarray
    y: np.ndarray
    train_mask: np.ndarray
    val_mask: np.ndarray
    test_mask: np.ndarray
    num_classes: int
    x_available: np.ndarray

    def __repr__(self) -> str:
        return (f"PlanetoidDataset(name={self.name!r}, num_nodes={self.num_nodes}, "
                f"num_edges={self.edge_index.shape[1]}, num_features={self.x.shape[1]}, "
                f"num_classes={self.num_classes})")

    def to_pyg(self):
        """Build a ``torch_geometric.data.Data`` (x, edge_index, y, masks, x_available); shares memory."""
        import torch
        from torch_geometric.data import Data

        return Data(
            x=torch.from_numpy(self.x),
            edge_index=torch.from_numpy(self.edge_index),
            y=torch.from_numpy(self.y),
            train_mask=torch.from_numpy(self.train_mask),
            val_mask=torch.from_numpy(self.val_mask),
            test_mask=torch.from_numpy(self.test_mask),
            x_available=torch.from_numpy(self.x_available),
            num_nodes=self.num_nodes,
        )


def _edge_index_from_dict(graph: dict, num_nodes: int) -> np.ndarray:
    row = np.fromiter((u for u, nbrs in graph.items() for _ in nbrs), dtype=np.int64)
    col = np.fromiter((v for nbrs in graph.values() for v in nbrs), dtype=np.int64)
    return undirected_edge_index(row, col, num_nodes)


def load_planetoid(name: str, root: str | Path | None = None) -> PlanetoidDataset:
    """Load Cora, CiteSeer or PubMed with the standard Planetoid public split.

    Reads the ``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}`` files exactly as PyG's
    ``Planetoid(split='public')`` does: test feature rows go to the nodes listed in
    ``test.index``; train = the first ``len(y)`` nodes, val = the next 500, test = ``test.index``.
    CiteSeer has 15 test-range ids without a ``tx``/``ty`` row: they get a zero feature row and
    label 0, are in no mask, and have ``x_available`` False (PyG pads them the same way).

    PubMed is PARTIAL in the bundle: ``ind.pubmed.allx`` (features of the 18,717 non-test nodes)
    is missing. The loader then keeps every label, the full graph and the split, fills the
    features it does know (the 60 training rows from ``x`` and the 1,000 test rows from ``tx``),
    leaves the other 18,657 rows zero, sets ``x_available`` accordingly and emits a
    ``UserWarning``. A ``root`` folder that does hold ``allx`` gives complete features.

    Args:
        name: ``'cora'``, ``'citeseer'`` or ``'pubmed'`` (case-insensitive).
        root: folder holding the ``ind.<name>.*`` files; default the bundled copy.

    Returns:
        PlanetoidDataset with ``edge_index`` int64 (2, E), ``x`` float32 (N, F), ``y`` int64 (N,),
        bool (N,) ``train_mask`` / ``val_mask`` / ``test_mask`` / ``x_available``. Sizes
        (N, E, F, C): Cora 2708, 10556, 1433, 7; CiteSeer 3327, 9104, 3703, 6;
        PubMed 19717, 88648, 500, 3.

    Raises:
        ValueError: unknown name (the message lists the known ones).
        FileNotFoundError: a required file is missing.

    Data: Z. Yang, W. W. Cohen, R. Salakhutdinov, *Revisiting Semi-Supervised Learning with
    Graph Embeddings*, ICML 2016 (kimiyoung/planetoid).
    """
    name = check_name(name, PLANETOID, "Planetoid")
    folder = data_path(name, root=root)

    def part(suffix: str) -> Path:
        return folder / f"ind.{name}.{suffix}"

    x_train, y_train = _read_pickle(part("x")), _read_pickle(part("y"))
    tx, ty, ally = _read_pickle(part("tx")), _read_pickle(part("ty")), _read_pickle(part("ally"))
    graph = _read_pickle(part("graph"))
    test_index = np.loadtxt(require(part("test.index")), dtype=np.int64, ndmin=1)

    n_rest = ally.shape[0]  # non-test nodes are ids 0 .. n_rest-1; test ids follow
    num_nodes = n_rest + int(test_index.max() - test_index.min()) + 1
    num_features = tx.shape[1]

    x = np.zeros((num_nodes, num_features), dtype=np.float32)
    x_available = np.zeros(num_nodes, dtype=bool)
    if name != "pubmed" or part("allx").is_file():
        x[:n_rest] = _dense(_read_pickle(part("allx")))
        x_available[:n_rest] = True
    else:
        n_train = x_train.shape[0]
        x[:n_train] = _dense(x_train)  # x holds the first len(y) rows of allx
        x_available[:n_train] = True
        warnings.warn(
            f"pubmed: ind.pubmed.allx is not bundled, so only {n_train + len(test_index)} of "
            f"{num_nodes} feature rows are known (training + test nodes); the others are zero. "
            "See the x_available mask.",
            UserWarning,
            stacklevel=2,
        )
    x[test_index] = _dense(tx)
    x_available[test_index] = True

    y = np.zeros(num_nodes, dtype=np.int64)
    y[:n_rest] = np.asarray(ally).argmax(axis=1)
    y[test_index] = np.asarray(ty).argmax(axis=1)

    n_train = y_train.shape[0]
    train_mask = np.zeros(num_nodes, dtype=bool)
    train_mask[:n_train] = True
    val_mask = np.zeros(num_nodes, dtype=bool)
    val_mask[n_train:n_train + 500] = True
    test_mask = np.zeros(num_nodes, dtype=bool)
    test_mask[test_index] = True

    return PlanetoidDataset(
        name=name,
        num_nodes=num_nodes,
        edge_index=_edge_index_from_dict(graph, num_nodes),
        x=x,
        y=y,
        train_mask=train_mask,
        val_mask=val_mask,
        test_mask=test_mask,
        num_classes=int(ally.shape[1]),
        x_available=x_available,
    )
