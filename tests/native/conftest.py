"""Fixtures shared by the storage-core tests."""

import pytest
import torch

from native import device as dev


@pytest.fixture(params=["torch", pytest.param("cuda", marks=pytest.mark.gpu)])
def torch_device(request, monkeypatch):
    """Where the torch (CUDA) implementations run: on CUDA, or ('torch') on CPU tensors that
    native.device is told are CUDA ones (those kernels use device-generic ops only)."""
    if request.param == "torch":
        monkeypatch.setattr(dev, "device_of", lambda *a: dev.CUDA if any(torch.is_tensor(x) for x in a) else dev.CPU)
        monkeypatch.setattr(dev, "cuda_available", lambda: True)
    return torch.device(request.param if request.param == "cuda" else "cpu")
