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
    # the current CUDA device by index: tensors report 'cuda:0', and torch.device('cuda') != 'cuda:0'
    return torch.device("cuda", torch.cuda.current_device()) if request.param == "cuda" else torch.device("cpu")
