"""Input checks shared across graphkit's packages (link prediction, pooling)."""

from __future__ import annotations

import torch


def check_edge_index(edge_index, num_nodes: int | None = None, name: str = "edge_index",
                     dtypes: tuple[torch.dtype, ...] | None = None) -> int:
    """Validate a PyG ``edge_index``; returns the number of nodes (given or max id + 1).

    Args:
        edge_index: ``(2, E)`` integer tensor.
        num_nodes: N, when known: every id must lie in ``[0, N)``.
        name: the argument's name in the messages.
        dtypes: the integer dtypes allowed (default any); a layer that indexes tensors with
            ``edge_index`` passes ``(torch.int64, torch.int32)``.

    Raises:
        TypeError: not an integer torch tensor (or not one of ``dtypes``). ValueError: not
        (2, E), negative ids or ids >= num_nodes.
    """
    if not torch.is_tensor(edge_index):
        raise TypeError(f"{name} must be a torch tensor, got {type(edge_index).__name__}")
    if edge_index.dtype.is_floating_point or edge_index.dtype.is_complex or edge_index.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers, got dtype {edge_index.dtype}")
    if dtypes is not None and edge_index.dtype not in dtypes:
        raise TypeError(f"{name} must be {' or '.join(str(d).replace('torch.', '') for d in dtypes)}, "
                        f"got {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"{name} must have shape (2, E), got {tuple(edge_index.shape)}")
    top = int(edge_index.max()) + 1 if edge_index.numel() else 0
    if edge_index.numel() and int(edge_index.min()) < 0:
        raise ValueError(f"{name} holds a negative node id {int(edge_index.min())}")
    if num_nodes is None:
        return top
    if isinstance(num_nodes, bool) or int(num_nodes) != num_nodes or num_nodes < 0:
        raise ValueError(f"num_nodes must be a non-negative integer, got {num_nodes!r}")
    if top > num_nodes:
        raise ValueError(f"{name} refers to node {top - 1}, but num_nodes is {num_nodes}")
    return int(num_nodes)
