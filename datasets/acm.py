"""ACM heterogeneous academic graph in HAN's meta-path form (ACM3025)."""

from __future__ import annotations

import numpy as np
import scipy.io
import scipy.sparse as sp

from ._files import data_path, require

METAPATHS = ("PAP", "PLP", "PMP", "PTP")


def load_acm() -> dict:
    """Load ACM3025: paper features, labels, meta-path adjacencies and the fixed split.

    The heterogeneous graph comes as four paper-paper meta-path adjacencies (symmetric, 0/1,
    each with a full diagonal, kept): PAP (paper-author-paper), PLP (paper-subject-paper) —
    the two HAN uses — and PMP, PTP (their letters are not documented by the source; PTP is
    almost complete).

    Returns:
        dict with ``x`` float32 (3025, 1870) binary keyword features; ``y`` int64 (3025,) in
        0..2; ``metapaths`` dict name -> ``scipy.sparse.csr_matrix`` uint8 (3025, 3025) with
        nnz PAP 29,281, PLP 2,210,761, PMP 2,221,699, PTP 9,150,593; ``train_idx`` int64 (600,),
        ``val_idx`` int64 (300,), ``test_idx`` int64 (2125,) (0-based, disjoint, covering all
        papers); ``num_nodes`` 3025; ``num_classes`` 3.

    Data: X. Wang, H. Ji, C. Shi, B. Wang, P. Cui, P. Yu, Y. Ye, *Heterogeneous Graph
    Attention Network*, WWW 2019 (file from googlebaba/WWW2020-O2MAC: S. Fan et al.,
    *One2Multi Graph Autoencoder for Multi-view Graph Clustering*, WWW 2020).
    """
    mat = scipy.io.loadmat(require(data_path("acm_han", "ACM3025.mat")))
    label = np.asarray(mat["label"])
    return {
        "x": np.asarray(mat["feature"], dtype=np.float32),
        "y": label.argmax(axis=1).astype(np.int64),
        "metapaths": {m: sp.csr_matrix(mat[m]) for m in METAPATHS},
        "train_idx": mat["train_idx"].ravel().astype(np.int64),
        "val_idx": mat["val_idx"].ravel().astype(np.int64),
        "test_idx": mat["test_idx"].ravel().astype(np.int64),
        "num_nodes": label.shape[0],
        "num_classes": label.shape[1],
    }
