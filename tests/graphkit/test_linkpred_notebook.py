"""Execute examples/link_prediction.ipynb's code cells (nbformat/nbclient are not dependencies)."""

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "link_prediction.ipynb"


def test_link_prediction_notebook_runs():
    nb = json.loads(NOTEBOOK.read_text())
    ns = {"__name__": "__notebook__"}
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    for i, cell in enumerate(code):
        exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}[cell {i}]", "exec"), ns)
    assert ns["result"]["test"]["auc"] > 0.8
    assert ns["ids"].shape == (ns["queries"].numel(), 10)
    assert -1.0 <= ns["spearman"](ns["tc"], ns["atc"]) <= 1.0
