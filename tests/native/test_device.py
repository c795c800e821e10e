"""Dispatch and the import-time promises of native / ann / graphkit."""

import subprocess
import sys

import numpy as np
import pytest

from native import device


def _modules_after(stmt: str) -> set[str]:
    code = f"import sys; {stmt}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_imports_are_light():
    mods = _modules_after("import native, graphkit, graphkit.datasets")
    for heavy in ("torch", "torch_geometric", "numba.cuda", "cupy", "scipy"):
        assert heavy not in mods, f"{heavy} imported at package import"
    assert "torch_geometric" not in _modules_after("import ann")


def test_numba_cuda_compat_alias(monkeypatch):
    monkeypatch.delattr(np, "row_stack", raising=False)
    device.numba_cuda.cache_clear()
    try:
        device.numba_cuda()
    except ImportError:
        pass  # no numba-cuda here; the alias must still be in place
    finally:
        device.numba_cuda.cache_clear()
    assert np.row_stack is np.vstack


@pytest.mark.parametrize("spec,expected", [(None, "cpu"), ("cpu", "cpu"), ("cuda:1", "cuda"), ("CUDA", "cuda")])
def test_normalize_device(spec, expected):
    assert device.normalize_device(spec) == expected


def test_device_of_and_resolve():
    import torch

    assert device.device_of(np.zeros(3), torch.zeros(3), None) == "cpu"
    assert device.resolve_device(None, np.zeros(3)) == "cpu"
    if not device.cuda_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            device.resolve_device("cuda")


def test_register_rejects_unknown_device():
    with pytest.raises(ValueError):
        device.register("x", "tpu")
