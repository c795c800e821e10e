"""graphkit's storage core: CSR and temporal adjacency, distance/top-k kernels,
neighbour sampling and container files. Numba on the CPU, CUDA on the GPU, one dispatch.

Knows nothing of ``ann`` or ``graphkit``. Importing it needs no GPU and no CUDA package,
and is cheap: the public classes load (with Numba) on first use.
"""

from __future__ import annotations

import importlib

__all__ = ["CSRGraph", "TemporalGraph", "FeatureStore", "CorruptFileError", "device"]

_LAZY = {
    "CSRGraph": "native.csr",
    "TemporalGraph": "native.temporal",
    "FeatureStore": "native.features",
    "CorruptFileError": "native.container",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("device", "distance", "sampling", "graphops", "container", "vecio", "csr", "temporal"):
        return importlib.import_module(f"native.{name}")
    raise AttributeError(f"module 'native' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
