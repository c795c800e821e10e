"""Real vector sets for ANN tests and benchmarks: SIFT 5K (NGT sample) and MNIST 10K."""

from __future__ import annotations

import gzip

import numpy as np

from ._files import check_name, data_path, open_text, require

VECTOR_SETS = ("sift5k", "mnist10k")
GROUNDTRUTH_K = 100

_FOLDER = {"sift5k": "sift5k_ngt", "mnist10k": "mnist_test"}
_N_BASE = {"sift5k": 4500, "mnist10k": 9000}  # the rest of the rows are the held-out queries
# ground-truth file -> the query array it answers
_GROUNDTRUTH = {
    "sift5k": {"groundtruth.npy": "query", "groundtruth_ngt.npy": "query_ngt"},
    "mnist10k": {"groundtruth.npy": "query"},
}


def _read_tsv(path) -> np.ndarray:
    with open_text(path) as f:
        return np.loadtxt(f, delimiter="\t", dtype=np.float64, ndmin=2)


def _read_idx_ubyte(path) -> np.ndarray:
    """Read a gzip-compressed IDX file of unsigned bytes (the MNIST distribution format)."""
    with gzip.open(require(path), "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (header {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _vectors_without_groundtruth(name: str) -> dict:
    """The base/query split of one set (everything ``load_vectors`` returns but the ground truth)."""
    name = check_name(name, VECTOR_SETS, "vector")
    folder, n_base = _FOLDER[name], _N_BASE[name]
    if name == "sift5k":
        table = _read_tsv(data_path(folder, "sift-dataset-5k.tsv.gz"))
        vectors = table[:, :128].astype(np.float32)  # column 129 is NGT's object id
        out = {
            "base": vectors[:n_base],
            "query": vectors[n_base:],
            "query_ngt": _read_tsv(data_path(folder, "sift-query-3.tsv")).astype(np.float32),
        }
    else:
        images = _read_idx_ubyte(data_path(folder, "t10k-images-idx3-ubyte.gz"))
        labels = _read_idx_ubyte(data_path(folder, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
        vectors = images.reshape(len(images), -1).astype(np.float32)
        out = {
            "base": vectors[:n_base],
            "query": vectors[n_base:],
            "labels": labels[:n_base],
            "query_labels": labels[n_base:],
        }
    out["metric"] = "l2"
    return out


def load_vectors(name: str) -> dict:
    """Load a bundled vector set with its held-out queries and exact 100-NN ground truth.

    The splits (fixed, so results are comparable across runs and machines):

    - ``'sift5k'``: the 5,000 NGT sample SIFT vectors; ``base`` = rows 0..4499, ``query`` = rows
      4500..4999. The 3 queries NGT ships are added as ``query_ngt`` with ``groundtruth_ngt``
      (against the same 4,500-row base).
    - ``'mnist10k'``: the 10,000 MNIST test images as 784-d vectors (pixel values 0..255);
      ``base`` = images 0..8999, ``query`` = images 9000..9999; ``labels`` / ``query_labels``
      are their digits.

    The ground truth is derived, not part of the source data: exact nearest neighbours under
    squared L2 computed once in float64 (exact on these integer-valued vectors) by
    ``python -m graphkit.datasets.make_groundtruth``, ties broken by the lower base id.

    Args:
        name: ``'sift5k'`` or ``'mnist10k'``.

    Returns:
        dict with ``base`` float32 (n, d), ``query`` float32 (nq, d), ``groundtruth`` int64
        (nq, 100) row ids into ``base``, nearest first, and ``metric`` ``'l2'``. sift5k: n = 4500,
        nq = 500, d = 128, plus ``query_ngt`` float32 (3, 128) and ``groundtruth_ngt`` int64
        (3, 100). mnist10k: n = 9000, nq = 1000, d = 784, plus ``labels`` int64 (9000,) and
        ``query_labels`` int64 (1000,).

    Raises:
        ValueError: unknown name, or a ground-truth file of the wrong shape or dtype.
        FileNotFoundError: a data or ground-truth file is missing.

    Data: SIFT — yahoojapan/NGT sample data (SIFT descriptors as in H. Jégou, M. Douze,
    C. Schmid, *Product quantization for nearest neighbor search*, IEEE TPAMI 2011).
    MNIST — Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, *Gradient-based learning applied to
    document recognition*, Proc. IEEE 1998.
    """
    name = check_name(name, VECTOR_SETS, "vector")
    out = _vectors_without_groundtruth(name)
    n_base = len(out["base"])
    for filename, query_key in _GROUNDTRUTH[name].items():
        path = data_path(_FOLDER[name], filename)
        if not path.is_file():
            raise FileNotFoundError(
                f"ground-truth file {str(path)!r} is missing; recreate it with "
                "`python -m graphkit.datasets.make_groundtruth`"
            )
        gt = np.load(path, allow_pickle=False)
        expected = (len(out[query_key]), GROUNDTRUTH_K)
        if gt.shape != expected or gt.dtype != np.int64 or gt.min() < 0 or gt.max() >= n_base:
            raise ValueError(
                f"{path}: ground truth has shape {gt.shape} dtype {gt.dtype}, expected {expected} "
                f"int64 ids in [0, {n_base}); recreate it with "
                "`python -m graphkit.datasets.make_groundtruth`"
            )
        out["groundtruth" + query_key[len("query"):]] = gt
    return out
