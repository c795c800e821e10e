"""Bundled real datasets (imported as ``graphkit.datasets``); no network access, ever.

Importing this package loads nothing but this file: each loader's module is imported on first
use and needs only numpy/scipy; torch / torch_geometric objects (``load_tu``,
``PlanetoidDataset.to_pyg``) and ``native.TemporalGraph`` (``load_temporal``) are built inside
the functions that return them. ``available()`` lists every dataset with one line about it.
"""

from __future__ import annotations

from graphkit._lazy import lazy_exports

_LAZY = {
    "available": "catalog",
    "load_planetoid": "planetoid",
    "PlanetoidDataset": "planetoid",
    "load_vectors": "vectors",
    "load_tu": "tu",
    "load_temporal": "temporal",
    "read_temporal_arrays": "temporal",
    "load_blogcatalog": "blogcatalog",
    "load_seal": "seal",
    "load_acm": "acm",
    "load_pdb": "protein",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
