"""Input checks shared by the pooling layers: clear errors instead of torch's own from deep
inside a layer (a dtype clash in a matmul, an index out of bounds in a scatter)."""

from __future__ import annotations

import torch

from graphkit._checks import check_edge_index as _check_edge_index


def check_edge_index(edge_index: torch.Tensor, num_nodes: int | None = None) -> None:
    """A ``(2, E)`` int64 or int32 tensor (the layers index with it) whose ids lie in
    ``[0, num_nodes)`` when given (:func:`graphkit._checks.check_edge_index`)."""
    _check_edge_index(edge_index, num_nodes, dtypes=(torch.int64, torch.int32))


def check_values(x: torch.Tensor, module: torch.nn.Module, name: str = "x", finite: bool = True) -> None:
    """``x`` (at least 1-D, its shape checked by the caller) holds floats of the dtype of
    ``module``'s parameters, with ``finite`` none of them NaN or infinite.

    The NaN / inf check runs on CPU tensors only: on CUDA it would wait for the GPU on every
    call, so there NaN in gives NaN out, as in PyG's layers."""
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must hold floats, got {x.dtype}")
    param = next(module.parameters(), None)
    if param is not None and param.dtype != x.dtype:
        raise TypeError(f"{name} is {x.dtype} but the layer's parameters are {param.dtype}: convert one to the "
                        f"other (e.g. {name}.to({param.dtype}) or layer.to({x.dtype}))")
    # the sum is finite unless some value is not (or it overflows: then the exact check decides);
    # it is over 10x faster than isfinite(x).all() on the CPU
    if finite and x.device.type == "cpu" and x.numel() and not bool(torch.isfinite(x.detach().sum())):
        bad = (~torch.isfinite(x)).reshape(x.shape[0], -1).any(1).nonzero().view(-1)
        if not bad.numel():
            return
        raise ValueError(f"{name} holds NaN or infinite values (rows {bad[:5].tolist()}"
                         f"{' ...' if bad.numel() > 5 else ''})")


def check_batch(batch: torch.Tensor | None, n: int) -> None:
    """``batch`` is None or an integer ``(n,)`` vector of non-negative graph ids."""
    if batch is None:
        return
    if not torch.is_tensor(batch) or batch.shape != (n,):
        shape = tuple(batch.shape) if torch.is_tensor(batch) else type(batch).__name__
        raise ValueError(f"batch must have shape ({n},), got {shape}")
    if batch.dtype.is_floating_point or batch.dtype == torch.bool:
        raise TypeError(f"batch must hold integer graph ids, got {batch.dtype}")
    if n and int(batch.min()) < 0:
        raise ValueError(f"batch holds a negative graph id {int(batch.min())}")
