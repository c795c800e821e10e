"""CPU/CUDA dispatch, device and dtype helpers, and the numba-cuda compatibility fix.

This is the one place that decides whether work runs on the CPU (Numba kernels) or on a
CUDA device (torch / numba.cuda kernels). Kernel modules register their implementations
with :func:`register`; public functions ask :func:`dispatch` for the one that fits the
device of their inputs, so no caller branches on the device itself.

Importing this module never imports torch's CUDA runtime, numba.cuda or CuPy: a machine
with no GPU and no CUDA packages can use everything on the CPU.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import numpy as np

CPU = "cpu"
CUDA = "cuda"
_DEVICES = (CPU, CUDA)

# name -> {device: implementation}
_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {}


def register(name: str, device: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``fn`` as the ``device`` implementation of kernel ``name``."""
    if device not in _DEVICES:
        raise ValueError(f"device must be one of {_DEVICES}, got {device!r}")

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY.setdefault(name, {})[device] = fn
        return fn

    return deco


def dispatch(name: str, device: str) -> Callable[..., Any]:
    """Return the implementation of kernel ``name`` for ``device`` ('cpu' or 'cuda')."""
    impls = _REGISTRY.get(name)
    if impls is None:
        raise KeyError(f"no kernel named {name!r}; known: {sorted(_REGISTRY)}")
    dev = normalize_device(device)
    if dev not in impls:
        raise NotImplementedError(f"kernel {name!r} has no {dev} implementation")
    return impls[dev]


def kernels() -> dict[str, tuple[str, ...]]:
    """Registered kernel names and the devices each one supports."""
    return {k: tuple(sorted(v)) for k, v in sorted(_REGISTRY.items())}


def normalize_device(device: Any) -> str:
    """Map 'cpu', 'cuda', 'cuda:0', a ``torch.device`` or None (cpu) to 'cpu' or 'cuda'."""
    if device is None:
        return CPU
    s = str(getattr(device, "type", device)).lower()
    if s.startswith("cuda") or s.startswith("gpu"):
        return CUDA
    if s == CPU:
        return CPU
    raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")


def device_of(*arrays: Any) -> str:
    """'cuda' if any argument is a CUDA torch tensor or a CuPy array, else 'cpu'."""
    for a in arrays:
        if a is None:
            continue
        dev = getattr(a, "device", None)
        if dev is None:
            continue
        if getattr(dev, "type", None) == "cuda":  # torch
            return CUDA
        if type(a).__module__.startswith("cupy"):
            return CUDA
    return CPU


def resolve_device(device: Any = None, *arrays: Any) -> str:
    """The device to run on: ``device`` if given (checked to exist), else the inputs' device."""
    dev = normalize_device(device) if device is not None else device_of(*arrays)
    if dev == CUDA and not cuda_available():
        raise RuntimeError("device='cuda' was asked for, but no CUDA device is available")
    return dev


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """True when torch sees a CUDA device. Never raises; False without torch or a driver."""
    if os.environ.get("GRAPHKIT_DISABLE_CUDA"):
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover - broken driver
        return False


@functools.lru_cache(maxsize=1)
def numba_cuda():
    """Import and return ``numba.cuda`` with the numpy-2.5 compatibility fix applied.

    numba-cuda still calls ``numpy.row_stack``, which numpy 2.5 removed; we alias it to
    ``numpy.vstack`` (the same function) before the import. Raises ImportError when
    numba-cuda is not installed.
    """
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack  # type: ignore[attr-defined]
    from numba import cuda  # noqa: PLC0415 - lazy on purpose

    return cuda


def as_torch(x: Any, device: str | None = None):
    """A torch tensor view of a numpy array / tensor (no copy on the same device)."""
    import torch

    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    if device is not None:
        t = t.to(normalize_device(device) if device != CUDA else "cuda")
    return t


def as_numpy(x: Any) -> np.ndarray:
    """A numpy array from a numpy array, a (possibly CUDA) torch tensor or a CuPy array."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


def num_threads() -> int:
    """Threads Numba's parallel kernels use (``NUMBA_NUM_THREADS`` / ``set_num_threads``)."""
    import numba

    return int(numba.get_num_threads())
