"""PRES: prediction-correction memory update and memory-coherence objective for TGN.

J. Su, D. Zou, C. Wu, *PRES: Toward Scalable Memory-Based Dynamic Graph Neural Networks*,
ICLR 2024. With a large temporal batch a node may have many events in one batch, but the
memory sees only one (aggregated) message: the intermediate transitions are lost ("temporal
discontinuity"). PRES

- keeps, per node, a Gaussian model of its memory transitions ``delta = s^+ - s^-`` (the
  mixture over nodes of ``N(mu_i, diag sigma_i^2)``, fitted online by running moments, reset
  with the memory at the start of every epoch);
- *predicts* the next state from the transition model, ``s_hat = s^- + mu_i``, and
  *corrects* the GRU's state (computed from the one aggregated message of a batch that may
  hold many events of the node) with it: ``s = gamma s_hat + (1 - gamma) s_gru``
  (``gamma = sigmoid(g)``, learned), for nodes whose model has at least one observation
  ("predict to smooth": the fusion damps the variance that large batches add to the
  memory); the measured transition ``s_gru - s^-`` then updates the model (measuring the
  fused state instead would feed the prediction back into itself and drive the memory to
  saturation); a node's first update, out of the zero initial state, is not a transition of
  its dynamics and is not observed (on JODIE Wikipedia, where most nodes have few events,
  observing it made the prediction overshoot: test AP 75.0 -> 78.0 without it);
- adds the memory-coherence (smoothing) objective ``beta * mean_i (1 - cos(s_i, s_i^-))``
  over the updated nodes, so that consecutive states of a node stay aligned and the
  gradients computed from stale states stay informative.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from graphkit.temporal.tgn import TGN


class PRES(TGN):
    """TGN trained with PRES (same constructor and stream API as :class:`TGN`).

    Args:
        num_nodes, edge_dim, memory_dim, time_dim, embedding_dim, num_neighbors, heads,
            dropout: as :class:`TGN`.
        gamma: initial fusion weight of the prediction, in (0, 1) (learned; 0.1).
        coherence_weight: beta of the memory-coherence term (0.1, as the authors' code). It
            costs accuracy at small batches and keeps it at large ones: on Enron (20 epochs,
            seeds 0-2, lr 3e-4 at batch 200, scaled with the batch) test AP is 85.8 at batch
            200 and 80.7 at 800 with beta 0, 83.9 and 82.8 with beta 0.1. On JODIE Wikipedia
            beta 0 was better at batch 800 too (5 epochs, seeds 0 1: 93.8 against 93.0); the
            runner's ``--pres-coherence`` sets it.
        message_store: as :class:`TGN`; with 'node' a transition is observed when the node's
            stored message is applied for good (it is re-applied every batch until then).

    Buffers: ``delta_count`` (N,), ``delta_mean`` (N, d_mem), ``delta_var`` (N, d_mem): the
    per-node transition model. ``extra_loss()`` returns the coherence term of the last
    memory update in training mode (None otherwise).
    """

    def __init__(self, num_nodes: int, edge_dim: int = 0, memory_dim: int = 100, time_dim: int = 100,
                 embedding_dim: int = 100, num_neighbors: int = 10, heads: int = 2, dropout: float = 0.1,
                 gamma: float = 0.1, coherence_weight: float = 0.1, message_store: str = "node") -> None:
        if not 0.0 < gamma < 1.0:
            raise ValueError(f"gamma must be in (0, 1), got {gamma!r}")
        if coherence_weight < 0:
            raise ValueError(f"coherence_weight must be >= 0, got {coherence_weight!r}")
        super().__init__(num_nodes, edge_dim, memory_dim, time_dim, embedding_dim, num_neighbors, heads, dropout,
                         message_store=message_store)
        self.register_buffer("delta_count", torch.zeros(num_nodes))
        self.register_buffer("delta_mean", torch.zeros(num_nodes, memory_dim))
        self.register_buffer("delta_var", torch.zeros(num_nodes, memory_dim))
        self.gamma_logit = nn.Parameter(torch.tensor(float(np.log(gamma / (1 - gamma)))))
        self._gamma0 = gamma
        self.coherence_weight = float(coherence_weight)
        self._coherence = None
        self._measured = []

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            self.gamma_logit.fill_(float(np.log(self._gamma0 / (1 - self._gamma0))))

    def reset_state(self) -> None:
        super().reset_state()
        if hasattr(self, "delta_count"):
            self.delta_count.zero_()
            self.delta_mean.zero_()
            self.delta_var.zero_()
        self._coherence = None
        self._measured = []

    def state_snapshot(self):
        return super().state_snapshot() + (self.delta_count.clone(), self.delta_mean.clone(), self.delta_var.clone())

    def load_snapshot(self, snap) -> None:
        super().load_snapshot(snap[:3])
        self.delta_count, self.delta_mean, self.delta_var = (s.clone() for s in snap[3:])

    @property
    def gamma(self) -> torch.Tensor:
        return torch.sigmoid(self.gamma_logit)

    def transition_prediction(self, prev: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """``s_hat = s^- + mu`` for nodes ``idx`` (U,), clamped to the GRU's range [-1, 1]."""
        return (prev + self.delta_mean[idx]).clamp(-1.0, 1.0)

    def observe_transitions(self, idx: torch.Tensor, delta: torch.Tensor) -> None:
        """Running mean / variance update of the nodes' transition models with ``delta`` (U, d)."""
        n = self.delta_count[idx] + 1
        mean = self.delta_mean[idx]
        step = delta - mean
        new_mean = mean + step / n[:, None]
        # Welford: var_n = ((n-1) var_{n-1} + (x - mean_{n-1})(x - mean_n)) / n
        new_var = ((n - 1)[:, None] * self.delta_var[idx] + step * (delta - new_mean)) / n[:, None]
        self.delta_count[idx] = n
        self.delta_mean[idx] = new_mean
        self.delta_var[idx] = new_var

    def updated_rows(self, nodes: np.ndarray):
        comp, tt = super().updated_rows(nodes)
        self._coherence = None
        idx = torch.from_numpy(nodes).to(comp.device)
        prev = self.memory[idx]
        known = (self.delta_count[idx] > 0)[:, None]
        pred = self.transition_prediction(prev, idx)
        g = self.gamma
        fused = torch.where(known, g * pred + (1 - g) * comp, comp)
        # A node's first update leaves the zero state: no transition of its dynamics (it would
        # dominate that node's mean), and no direction for the coherence term to keep.
        live = prev.norm(dim=1) > 0
        if bool(live.any()):
            # observed when the message is applied for good (the 'node' store re-applies a
            # stored message every batch until then)
            self._measured.append((nodes[live.cpu().numpy()], comp.detach()[live] - prev[live]))
            if self.training and self.coherence_weight > 0:
                cos = F.cosine_similarity(fused[live], prev[live], dim=1)
                self._coherence = self.coherence_weight * (1 - cos).mean()
        return fused, tt

    def _persisted(self, nodes: np.ndarray) -> None:
        measured, self._measured = self._measured, []
        if not measured or nodes.size == 0:
            return
        cand = np.concatenate([m[0] for m in measured])
        delta = torch.cat([m[1] for m in measured])
        cand, first = np.unique(cand, return_index=True)  # one node may be computed twice
        hit = np.isin(cand, nodes)
        if hit.any():
            h = torch.from_numpy(first[hit]).to(delta.device)
            self.observe_transitions(torch.from_numpy(cand[hit]).to(delta.device), delta[h])

    def extra_loss(self):
        if self._local is None and self._fresh is None:  # nothing computed since observe
            self.current_memory()
        return self._coherence
