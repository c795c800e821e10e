"""The PyG TGN baseline, as PyG's ``examples/tgn.py`` builds it, behind the stream-model API.

``TGNMemory`` (``IdentityMessage``, ``LastAggregator``), ``LastNeighborLoader`` and a
``TransformerConv`` graph-attention embedding with the example's ``LinkPredictor``; only the
glue to :mod:`graphkit.temporal.train`'s loop (reset / forward / observe) is ours.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class _GraphAttentionEmbedding(nn.Module):
    """PyG example's embedding: TransformerConv over (memory, last-neighbour edges)."""

    def __init__(self, in_channels, out_channels, msg_dim, time_enc):
        super().__init__()
        from torch_geometric.nn import TransformerConv

        self.time_enc = time_enc
        edge_dim = msg_dim + time_enc.out_channels
        self.conv = TransformerConv(in_channels, out_channels // 2, heads=2, dropout=0.1, edge_dim=edge_dim)

    def forward(self, x, last_update, edge_index, t, msg):
        rel_t = last_update[edge_index[0]] - t
        rel_t_enc = self.time_enc(rel_t.to(x.dtype))
        edge_attr = torch.cat([rel_t_enc, msg], dim=-1)
        return self.conv(x, edge_index, edge_attr)


class _LinkPredictor(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.lin_src = nn.Linear(in_channels, in_channels)
        self.lin_dst = nn.Linear(in_channels, in_channels)
        self.lin_final = nn.Linear(in_channels, 1)

    def forward(self, z_src, z_dst):
        return self.lin_final((self.lin_src(z_src) + self.lin_dst(z_dst)).relu())


class PyGTGN(nn.Module):
    """PyG's TGN components wired as in ``examples/tgn.py`` (memory 100, time 100, embedding
    100, 10 last neighbours), as a stream model for :func:`fit_link_prediction`.

    Args:
        num_nodes, edge_dim (0: a constant 1-wide message feature, as PyG needs one),
        memory_dim, time_dim, embedding_dim, num_neighbors.
    """

    def __init__(self, num_nodes: int, edge_dim: int = 0, memory_dim: int = 100, time_dim: int = 100,
                 embedding_dim: int = 100, num_neighbors: int = 10) -> None:
        super().__init__()
        from torch_geometric.nn.models.tgn import IdentityMessage, LastAggregator, LastNeighborLoader, TGNMemory

        self.num_nodes = num_nodes
        self.msg_dim = max(edge_dim, 1)
        self.edge_dim = edge_dim
        self.memory = TGNMemory(num_nodes, self.msg_dim, memory_dim, time_dim,
                                message_module=IdentityMessage(self.msg_dim, memory_dim, time_dim),
                                aggregator_module=LastAggregator())
        self.gnn = _GraphAttentionEmbedding(memory_dim, embedding_dim, self.msg_dim, self.memory.time_enc)
        self.link_pred = _LinkPredictor(embedding_dim)
        self.loader = LastNeighborLoader(num_nodes, size=num_neighbors)
        self.register_buffer("assoc", torch.empty(num_nodes, dtype=torch.long))
        self.graph = None
        self.reset_state()

    def _apply(self, fn, *args, **kwargs):
        # LastNeighborLoader holds plain tensors (not buffers): move them with the module
        super()._apply(fn, *args, **kwargs)
        dev = self.assoc.device
        ld = self.loader
        ld.neighbors, ld.e_id, ld._assoc = ld.neighbors.to(dev), ld.e_id.to(dev), ld._assoc.to(dev)
        self._log_t, self._log_msg = self._log_t.to(dev), self._log_msg.to(dev)
        if self.graph is not None:
            self._t, self._msg = self._t.to(dev), self._msg.to(dev)
        return self

    def reset_state(self) -> None:
        self.memory.reset_state()
        self.loader.reset_state()
        # LastNeighborLoader numbers inserted events 0, 1, ... since its reset: keep their
        # times and messages in that order
        dev = self.assoc.device
        self._log_t = torch.zeros(0, dtype=torch.long, device=dev)
        self._log_msg = torch.zeros(0, self.msg_dim, device=dev)

    def set_graph(self, graph) -> None:
        self.graph = graph
        dev = self.assoc.device
        self._t = torch.from_numpy(np.floor(np.asarray(graph.t, dtype=np.float64)).astype(np.int64)).to(dev)
        if self.edge_dim:
            self._msg = torch.from_numpy(np.asarray(graph.edge_attr, dtype=np.float32)).to(dev)
        else:
            self._msg = torch.ones(graph.num_events, 1, device=dev)

    def detach_state(self) -> None:
        self.memory.detach()

    def extra_loss(self):
        return None

    def forward(self, src, dst, t, neg_dst):
        dev = self.assoc.device
        src, dst, neg = (torch.from_numpy(np.array(a, dtype=np.int64)).to(dev) for a in (src, dst, neg_dst))
        n_id = torch.cat([src, dst, neg]).unique()
        n_id, edge_index, e_id = self.loader(n_id)
        self.assoc[n_id] = torch.arange(n_id.size(0), device=dev)
        z, last_update = self.memory(n_id)
        z = self.gnn(z, last_update, edge_index, self._log_t[e_id], self._log_msg[e_id])
        pos = self.link_pred(z[self.assoc[src]], z[self.assoc[dst]]).squeeze(-1)
        neg_out = self.link_pred(z[self.assoc[src]], z[self.assoc[neg]]).squeeze(-1)
        return pos, neg_out

    def observe(self, src, dst, t, eids) -> None:
        dev = self.assoc.device
        eids = torch.as_tensor(np.asarray(eids), dtype=torch.long, device=dev)
        src, dst = (torch.from_numpy(np.array(a, dtype=np.int64)).to(dev) for a in (src, dst))
        tt, msg = self._t[eids], self._msg[eids]
        self.memory.update_state(src, dst, tt, msg)
        self.loader.insert(src, dst)
        self._log_t = torch.cat([self._log_t, tt])
        self._log_msg = torch.cat([self._log_msg, msg])
