"""Graph pooling and readout layers (issue 6): RegionProposalPool, HistoGraphReadout,
HyperDrop, TokenGraphPool.

PyG conventions: ``x`` (N, F), ``edge_index`` (2, E), ``batch`` (N,); torch in, torch out,
device follows the input. Imported lazily, so ``import graphkit.pool`` does not load
torch-geometric.

Example::

    from graphkit.pool import HistoGraphReadout
    readout = HistoGraphReadout(in_channels=64, hidden_channels=64, out_channels=2)
    logits = readout([h0, h1, h2, h3], batch)       # every conv layer's (N, 64) output
"""

from __future__ import annotations

from graphkit._lazy import lazy_exports

_LAZY = {
    "HistoGraphReadout": "histograph", "segment_softmax": "histograph",
    "HyperDrop": "hyperdrop", "dual_hypergraph": "hyperdrop", "inverse_dual_hypergraph": "hyperdrop",
    "RegionProposalPool": "region_proposal", "supcon_loss": "region_proposal",
    "info_nce_loss": "region_proposal", "perturb_graph": "region_proposal",
    "ca_secondary_structure": "region_proposal",
    "TokenGraphPool": "token_graph", "token_similarity_graph": "token_graph",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
