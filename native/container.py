"""Versioned, checksummed, atomically written container files (no pickle).

Every file graphkit writes (ANN indexes, CSR graphs) is one container::

    offset 0   magic            8 bytes  b"GKITFILE"
    offset 8   format version   uint32 little-endian
    offset 12  header length    uint64 little-endian (n)
    offset 20  header           n bytes of UTF-8 JSON
    offset 20+n header crc32    uint32 little-endian
    ...        arrays, each starting on a 64-byte boundary, raw little-endian C order
    end-16     total length     uint64 (the file's size, to detect truncation)
    end-8      end magic        8 bytes  b"GKITEND\\0"

The JSON header holds ``kind`` (what the file is, e.g. ``"ann.flat"``), ``kind_version``,
a free-form ``meta`` dict of JSON values, and for each array its name, dtype, shape,
offset, byte length and crc32. Readers check the magics, the length, the header
checksum and (by default) every array's checksum, and refuse the file with a
:class:`CorruptFileError` that says what is wrong.

Files are written to a temporary file in the target folder, flushed, fsynced and then
renamed over the target, so a crash never leaves a half-written file under the name.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

MAGIC = b"GKITFILE"
END_MAGIC = b"GKITEND\x00"
FORMAT_VERSION = 1
_ALIGN = 64
_PREFIX = struct.Struct("<8sIQ")  # magic, version, header length
_TRAILER = struct.Struct("<Q8s")  # total length, end magic
_CRC_CHUNK = 1 << 26


class CorruptFileError(ValueError):
    """A container file is truncated, corrupt, of an unknown version or of the wrong kind."""


@dataclass
class Container:
    """What a container file holds: its kind, metadata and named arrays."""

    kind: str
    kind_version: int = 1
    meta: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    path: str | None = None


def _bytes(a: np.ndarray) -> np.ndarray:
    """The raw bytes of an array as a flat uint8 view (copied if not C-contiguous)."""
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def _crc32(a: np.ndarray) -> int:
    buf = _bytes(a)
    crc = 0
    for start in range(0, len(buf), _CRC_CHUNK):
        crc = zlib.crc32(buf[start : start + _CRC_CHUNK], crc)
    return crc & 0xFFFFFFFF


def _pad(n: int) -> int:
    return (-n) % _ALIGN


def _le(a: np.ndarray) -> np.ndarray:
    a = np.require(a, requirements="C")  # unlike ascontiguousarray, keeps 0-d arrays 0-d
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    if a.dtype.hasobject:
        raise TypeError("object arrays cannot be stored (nothing is pickled)")
    return a


def save(
    path: str | os.PathLike,
    kind: str,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any] | None = None,
    kind_version: int = 1,
) -> int:
    """Write a container atomically; return the number of bytes written.

    Args:
        path: target file. Its folder must exist.
        kind: what the file holds, e.g. ``"ann.flat"``; checked again on load.
        arrays: name -> numpy array (numeric or bool; never objects).
        meta: JSON-serialisable metadata.
        kind_version: version of the ``kind``'s own layout.
    """
    path = os.fspath(path)
    arrs = {name: _le(np.asarray(a)) for name, a in arrays.items()}
    entries = []
    # Offsets depend on the header length, which depends on the offsets: lay out the
    # arrays relative to the data start first, then fix the start.
    rel = 0
    for name, a in arrs.items():
        entries.append(
            {
                "name": name,
                "dtype": a.dtype.str,
                "shape": list(a.shape),
                "rel": rel,
                "nbytes": int(a.nbytes),
                "crc32": _crc32(a),
            }
        )
        rel += a.nbytes + _pad(a.nbytes)
    header_obj = {
        "kind": kind,
        "kind_version": int(kind_version),
        "meta": dict(meta or {}),
        "arrays": entries,
    }
    # Reserve room for offsets of up to 20 digits each so the header length is stable.
    for e in entries:
        e["offset"] = 10**19
    probe = json.dumps(header_obj, sort_keys=True).encode()
    data_start = _PREFIX.size + len(probe) + 4
    data_start += _pad(data_start)
    for e in entries:
        e["offset"] = data_start + e.pop("rel")
    header = json.dumps(header_obj, sort_keys=True).encode()
    header += b" " * (len(probe) - len(header))  # same length as the probe
    total = data_start + rel + _TRAILER.size

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)))
            f.write(header)
            f.write(struct.pack("<I", zlib.crc32(header) & 0xFFFFFFFF))
            f.write(b"\0" * (data_start - f.tell()))
            for a in arrs.values():
                f.write(_bytes(a).data)
                f.write(b"\0" * _pad(a.nbytes))
            f.write(_TRAILER.pack(total, END_MAGIC))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return total


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a container's header (kind, meta, array table) without the arrays."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise FileNotFoundError(f"cannot open {path!r}: {e.strerror}") from None
    with open(path, "rb") as f:
        prefix = f.read(_PREFIX.size)
        if len(prefix) < _PREFIX.size:
            raise CorruptFileError(f"{path!r} is too short ({size} bytes) to be a graphkit file")
        magic, version, hlen = _PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise CorruptFileError(f"{path!r} is not a graphkit file (bad magic {magic!r})")
        if version > FORMAT_VERSION:
            raise CorruptFileError(
                f"{path!r} has container format version {version}; this graphkit reads "
                f"versions up to {FORMAT_VERSION}: upgrade graphkit"
            )
        if _PREFIX.size + hlen + 4 + _TRAILER.size > size:
            raise CorruptFileError(f"{path!r} is truncated (header runs past the end)")
        header = f.read(hlen)
        (crc,) = struct.unpack("<I", f.read(4))
        if zlib.crc32(header) & 0xFFFFFFFF != crc:
            raise CorruptFileError(f"{path!r} is corrupt: header checksum mismatch")
        f.seek(size - _TRAILER.size)
        total, end = _TRAILER.unpack(f.read(_TRAILER.size))
    try:
        obj = json.loads(header.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptFileError(f"{path!r} is corrupt: unreadable header ({e})") from None
    # the size the (checksummed) header describes: save() lays the arrays out one after the
    # other from the first 64-byte boundary after the header, then the trailer
    start = _PREFIX.size + hlen + 4
    expected = start + _pad(start) + sum(e["nbytes"] + _pad(e["nbytes"]) for e in obj["arrays"]) + _TRAILER.size
    if size < expected:
        raise CorruptFileError(f"{path!r} is truncated: its header describes {expected} bytes, the file has {size}")
    if size > expected:
        raise CorruptFileError(
            f"{path!r} has {size - expected} bytes of trailing data after the {expected} its header describes"
        )
    if end != END_MAGIC or total != size:
        raise CorruptFileError(f"{path!r} is corrupt: bad end marker")
    for e in obj["arrays"]:
        if e["offset"] + e["nbytes"] > size - _TRAILER.size:
            raise CorruptFileError(f"{path!r} is corrupt: array {e['name']!r} runs past the end")
    return obj


def load(
    path: str | os.PathLike,
    kind: str | None = None,
    mmap: bool = False,
    verify: bool = True,
) -> Container:
    """Read a container, checking magics, length and checksums.

    Args:
        path: the file.
        kind: if given, the file must hold this kind (a prefix ending in '.' matches too,
            e.g. ``"ann."`` accepts any ANN index).
        mmap: map arrays read-only from the file instead of reading them into memory.
        verify: check every array's crc32 (reads the whole file once).

    Raises:
        FileNotFoundError, CorruptFileError.
    """
    path = os.fspath(path)
    obj = read_header(path)
    file_kind = obj.get("kind", "")
    if kind is not None and not (
        file_kind == kind or (kind.endswith(".") and file_kind.startswith(kind))
    ):
        raise CorruptFileError(f"{path!r} holds a {file_kind!r}, not a {kind!r}")
    arrays: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        for e in obj["arrays"]:
            dtype = np.dtype(e["dtype"])
            shape = tuple(e["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            if count * dtype.itemsize != e["nbytes"]:
                raise CorruptFileError(f"{path!r} is corrupt: array {e['name']!r} has a bad size")
            if mmap and count and shape:
                a = np.memmap(path, dtype=dtype, mode="r", offset=e["offset"], shape=shape)
            else:
                f.seek(e["offset"])
                a = np.fromfile(f, dtype=dtype, count=count).reshape(shape)
            if verify and _crc32(a) != e["crc32"]:
                raise CorruptFileError(f"{path!r} is corrupt: checksum mismatch in array {e['name']!r}")
            arrays[e["name"]] = a
    return Container(
        kind=file_kind,
        kind_version=int(obj.get("kind_version", 1)),
        meta=obj.get("meta", {}),
        arrays=arrays,
        path=path,
    )
