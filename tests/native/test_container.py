"""Container files: round trips, atomic writes, and refusal of damaged files."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from native import container
from native.container import CorruptFileError

dtypes = st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_])


@settings(max_examples=40, deadline=None)
@given(
    arrays=st.dictionaries(
        st.text("abcxyz_", min_size=1, max_size=6),
        dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7))),
        max_size=4,
    ),
    meta=st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8), st.booleans()), max_size=3),
)
def test_round_trip(tmp_path_factory, arrays, meta):
    p = tmp_path_factory.mktemp("c") / "f.gk"
    container.save(p, "test.kind", arrays, meta)
    for mmap in (False, True):
        c = container.load(p, kind="test.kind", mmap=mmap)
        assert c.meta == meta and list(c.arrays) == list(arrays)
        for k, a in arrays.items():
            assert c.arrays[k].dtype == a.dtype and c.arrays[k].shape == a.shape
            np.testing.assert_array_equal(c.arrays[k], a)


@pytest.fixture
def saved(tmp_path, rng):
    p = tmp_path / "x.gk"
    container.save(p, "ann.flat", {"v": rng.standard_normal((100, 8)).astype(np.float32)}, {"dim": 8})
    return p


def test_truncation_refused(saved):
    data = saved.read_bytes()
    for cut in (3, 30, len(data) // 2, len(data) - 1):
        saved.write_bytes(data[:cut])
        with pytest.raises(CorruptFileError):
            container.load(saved)


def test_damage_at_the_end_is_named_with_the_sizes(saved):
    """A cut file names the size its header describes and the size it has (the trailer it
    lost cannot say), trailing bytes are counted, and a damaged end marker is corrupt."""
    data = saved.read_bytes()
    n = len(data)
    for cut in (n // 2, n - 1):
        saved.write_bytes(data[:cut])
        with pytest.raises(CorruptFileError, match=f"truncated: its header describes {n} bytes, the file has {cut}$"):
            container.load(saved)
    saved.write_bytes(data + b"\0" * 5)
    with pytest.raises(CorruptFileError, match=f"has 5 bytes of trailing data after the {n} its header describes"):
        container.load(saved)
    saved.write_bytes(data[:-1] + b"X")
    with pytest.raises(CorruptFileError, match="bad end marker"):
        container.load(saved)
    saved.write_bytes(data)
    assert container.load(saved).meta == {"dim": 8}


def test_bit_flip_refused(saved):
    data = bytearray(saved.read_bytes())
    hdr = container.read_header(saved)
    off = hdr["arrays"][0]["offset"] + 17
    data[off] ^= 0x40
    saved.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="checksum"):
        container.load(saved)
    container.load(saved, verify=False)  # the caller can opt out


def test_header_flip_refused(saved):
    data = bytearray(saved.read_bytes())
    data[25] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError):
        container.load(saved)


def test_foreign_and_newer_files(tmp_path, saved):
    p = tmp_path / "foreign"
    p.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(CorruptFileError, match="not a graphkit file"):
        container.load(p)
    data = bytearray(saved.read_bytes())
    data[8] = 99  # format version
    saved.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="upgrade"):
        container.load(saved)


def test_wrong_kind(saved):
    with pytest.raises(CorruptFileError, match="holds a 'ann.flat'"):
        container.load(saved, kind="native.csr")
    assert container.load(saved, kind="ann.").kind == "ann.flat"


def test_atomic_write_keeps_old_file_on_failure(saved):
    before = saved.read_bytes()
    with pytest.raises(TypeError):
        container.save(saved, "ann.flat", {"o": np.array([object()])})
    assert saved.read_bytes() == before
    assert [f for f in os.listdir(saved.parent) if f.startswith(".tmp-")] == []


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        container.load(tmp_path / "nope")
