"""Readers and writers for the standard vector file formats.

- ``.fvecs`` / ``.ivecs`` / ``.bvecs`` (TEXMEX, as used by SIFT1M/GIST1M): each vector is
  an int32 dimension ``d`` followed by ``d`` float32 / int32 / uint8 components.
- ``.npy``: a 2-D numpy array (loaded without pickle).
- ``.hdf5`` / ``.h5``: ann-benchmarks files with datasets ``train``, ``test``,
  ``neighbors``, ``distances`` (needs h5py).
"""

from __future__ import annotations

import os

import numpy as np

_VECS = {".fvecs": np.float32, ".ivecs": np.int32, ".bvecs": np.uint8}


def _vecs_dtype(path: str) -> np.dtype:
    ext = os.path.splitext(path)[1].lower()
    if ext not in _VECS:
        raise ValueError(f"{path!r}: expected a .fvecs, .ivecs or .bvecs file, got {ext!r}")
    return np.dtype(_VECS[ext])


def read_vecs(path: str | os.PathLike, mmap: bool = False, count: int | None = None) -> np.ndarray:
    """Read an .fvecs / .ivecs / .bvecs file.

    Args:
        path: the file; the extension chooses the component type.
        mmap: map the file instead of reading it (the result is a read-only view).
        count: read only the first ``count`` vectors.

    Returns:
        (n, d) array of float32 / int32 / uint8.

    Raises:
        ValueError: the file is empty of a header, its size is not a whole number of
            vectors, or the vectors do not all have the same dimension.
    """
    path = os.fspath(path)
    dtype = _vecs_dtype(path)
    size = os.path.getsize(path)
    if size == 0:
        return np.zeros((0, 0), dtype=dtype)
    if size < 4:
        raise ValueError(f"{path!r} is too short ({size} bytes) for a vector file")
    d = int(np.fromfile(path, dtype="<i4", count=1)[0])
    if d <= 0:
        raise ValueError(f"{path!r}: first vector has dimension {d}; the file is corrupt")
    row = 4 + d * dtype.itemsize
    if size % row:
        raise ValueError(
            f"{path!r}: size {size} is not a multiple of the row size {row} (dimension {d}); "
            "the file is truncated or its vectors differ in dimension"
        )
    n = size // row if count is None else min(count, size // row)
    raw = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, row)) if mmap else (
        np.fromfile(path, dtype=np.uint8, count=n * row).reshape(n, row)
    )
    dims = raw[:, :4].copy().view("<i4").ravel()
    if n and not np.all(dims == d):
        bad = int(np.flatnonzero(dims != d)[0])
        raise ValueError(f"{path!r}: vector {bad} has dimension {dims[bad]}, expected {d}")
    out = raw[:, 4:].view(dtype.newbyteorder("<")) if dtype.itemsize > 1 else raw[:, 4:]
    return out if mmap else np.ascontiguousarray(out).astype(dtype, copy=False)


def write_vecs(path: str | os.PathLike, X: np.ndarray) -> None:
    """Write a 2-D array as .fvecs / .ivecs / .bvecs (by extension), atomically."""
    path = os.fspath(path)
    dtype = _vecs_dtype(path)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {X.shape}")
    if dtype == np.uint8 and X.size and (X.min() < 0 or X.max() > 255):
        raise ValueError(".bvecs holds uint8 components; values lie outside 0..255")
    n, d = X.shape
    out = np.empty((n, 4 + d * dtype.itemsize), dtype=np.uint8)
    out[:, :4] = np.full((n, 1), d, dtype="<i4").view(np.uint8)
    out[:, 4:] = np.ascontiguousarray(X, dtype=dtype.newbyteorder("<")).view(np.uint8).reshape(n, -1)
    tmp = path + ".part"
    out.tofile(tmp)
    os.replace(tmp, path)


def read_vectors(path: str | os.PathLike, key: str = "train", mmap: bool = False) -> np.ndarray:
    """Read vectors from .fvecs/.ivecs/.bvecs, .npy or ann-benchmarks .hdf5/.h5.

    Args:
        path: the file.
        key: the HDF5 dataset to read ('train', 'test', 'neighbors', 'distances').
        mmap: memory-map where the format allows (.*vecs, .npy).

    Returns:
        A 2-D array in the file's own dtype.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    ext = os.path.splitext(path)[1].lower()
    if ext in _VECS:
        return read_vecs(path, mmap=mmap)
    if ext == ".npy":
        X = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    elif ext in (".hdf5", ".h5"):
        try:
            import h5py
        except ImportError:
            raise ImportError("reading HDF5 needs h5py: pip install 'graphkit[hdf5]'") from None
        with h5py.File(path, "r") as f:
            if key not in f:
                raise KeyError(f"{path!r} has no dataset {key!r}; it has {sorted(f.keys())}")
            X = f[key][()]
    else:
        raise ValueError(
            f"{path!r}: unknown vector format {ext!r}; expected .fvecs, .ivecs, .bvecs, .npy, .hdf5 or .h5"
        )
    if X.ndim != 2:
        raise ValueError(f"{path!r}: expected a 2-D array, got shape {X.shape}")
    return X


def write_vectors(path: str | os.PathLike, X: np.ndarray) -> None:
    """Write a 2-D array as .fvecs/.ivecs/.bvecs or .npy (by extension), atomically."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in _VECS:
        write_vecs(path, X)
    elif ext == ".npy":
        tmp = path + ".part.npy"
        np.save(tmp, np.asarray(X), allow_pickle=False)
        os.replace(tmp, path)
    else:
        raise ValueError(f"{path!r}: can write .fvecs, .ivecs, .bvecs or .npy, not {ext!r}")
