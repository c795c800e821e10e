"""Temporal graph learning on edge streams (issue 8): TGN, PRES, SPLASH, NAT, SEMBA.

Models learn from a time-ordered stream of events held in a ``native.TemporalGraph`` (its
most-recent-neighbour queries are the temporal neighbour finder). Torch in, torch out.

Example::

    from graphkit.datasets import load_temporal
    from graphkit.temporal import TGN, link_split, fit_link_prediction
    g = load_temporal("collegemsg")
    split = link_split(g, seed=0)                   # chronological 70/15/15 + new nodes
    res = fit_link_prediction(TGN(g.num_nodes), g, split, epochs=1, batch_size=200)
    res["test"]["ap"], res["inductive_test"]["ap"]
"""

from __future__ import annotations

from graphkit._lazy import lazy_exports

_LAZY = {
    "TGN": "tgn", "TimeEncoder": "tgn", "TemporalAttention": "tgn", "TransformerAttention": "tgn",
    "PRES": "pres",
    "NAT": "nat", "NCache": "nat",
    "SEMBA": "semba",
    "SPLASH": "splash",
    "PyGTGN": "baselines",
    "link_split": "train", "fit_link_prediction": "train", "train_epoch": "train", "score_stream": "train",
    "average_precision": "train", "roc_auc": "train",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
