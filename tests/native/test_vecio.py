"""Vector file formats: round trips and damaged files."""

import numpy as np
import pytest

from native.vecio import read_vecs, read_vectors, write_vectors


@pytest.mark.parametrize("ext,dtype", [(".fvecs", np.float32), (".ivecs", np.int32), (".bvecs", np.uint8), (".npy", np.float32)])
def test_round_trip(tmp_path, rng, ext, dtype):
    X = (rng.random((37, 13)) * 200).astype(dtype)
    p = str(tmp_path / f"v{ext}")
    write_vectors(p, X)
    Y = read_vectors(p)
    assert Y.dtype == dtype
    np.testing.assert_array_equal(Y, X)
    if ext != ".npy":
        np.testing.assert_array_equal(read_vecs(p, mmap=True), X)
        np.testing.assert_array_equal(read_vecs(p, count=5), X[:5])


def test_fvecs_layout_is_texmex(tmp_path):
    """Each row: little-endian int32 dimension, then the components."""
    p = tmp_path / "a.fvecs"
    write_vectors(str(p), np.array([[1.5, -2.0]], np.float32))
    assert p.read_bytes() == np.array([2], "<i4").tobytes() + np.array([1.5, -2.0], "<f4").tobytes()


def test_truncated_and_mixed(tmp_path, rng):
    p = tmp_path / "a.fvecs"
    write_vectors(str(p), rng.random((10, 4)).astype(np.float32))
    data = p.read_bytes()
    p.write_bytes(data[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_vectors(str(p))
    bad = bytearray(data)
    bad[20:24] = np.array([4], "<i4").tobytes()  # row 1's dimension field is at 20
    bad[20:24] = np.array([7], "<i4").tobytes()
    p.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="vector 1 has dimension 7"):
        read_vectors(str(p))


def test_hdf5(tmp_path, rng):
    h5py = pytest.importorskip("h5py")
    p = tmp_path / "s.hdf5"
    X = rng.random((20, 3)).astype(np.float32)
    with h5py.File(p, "w") as f:
        f["train"] = X
        f["test"] = X[:4]
    np.testing.assert_array_equal(read_vectors(str(p)), X)
    np.testing.assert_array_equal(read_vectors(str(p), key="test"), X[:4])
    with pytest.raises(KeyError, match="neighbors"):
        read_vectors(str(p), key="neighbors")


def test_unknown_format(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("1,2")
    with pytest.raises(ValueError, match="unknown vector format"):
        read_vectors(str(p))
    with pytest.raises(FileNotFoundError):
        read_vectors(str(tmp_path / "none.fvecs"))
