"""Where the bundled data lives, and the checks every loader shares."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


def data_path(folder: str, filename: str | None = None, root: str | Path | None = None) -> Path:
    """Path of a bundled folder (or a file in it); ``root`` replaces the bundled folder."""
    base = Path(root) if root is not None else DATA_DIR / folder
    return base if filename is None else base / filename


def require(path: Path) -> Path:
    """Return ``path``, or raise FileNotFoundError naming it when it does not exist."""
    if not path.is_file():
        raise FileNotFoundError(
            f"dataset file {str(path)!r} is missing; graphkit.datasets reads only bundled files "
            f"(under {str(DATA_DIR)!r}) and never downloads"
        )
    return path


def open_text(path: Path) -> io.TextIOBase:
    """Open a text file for reading, decompressing it when its name ends in ``.gz``."""
    require(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline=None)
    return open(path, encoding="utf-8", newline=None)


def check_name(name: str, known, kind: str) -> str:
    """Return the canonical spelling of ``name`` among ``known`` (case-insensitive) or raise ValueError listing them."""
    if isinstance(name, str):
        for k in known:
            if k.lower() == name.lower():
                return k
    raise ValueError(f"unknown {kind} dataset {name!r}; known: {', '.join(known)}")
