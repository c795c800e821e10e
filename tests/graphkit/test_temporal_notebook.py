"""Execute examples/temporal.ipynb's code cells (nbformat/nbclient are not dependencies)."""

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "temporal.ipynb"


def test_temporal_notebook_runs():
    nb = json.loads(NOTEBOOK.read_text())
    ns = {"__name__": "__notebook__"}
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    for i, cell in enumerate(code):
        exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}[cell {i}]", "exec"), ns)
    for name in ("TGN", "TGN+PRES", "PyG TGN", "NAT"):
        assert 0.55 < ns["result"][name]["test"]["ap"] <= 1.0  # seeded: deterministic
    assert ns["counts"].shape[-1] == 6 and ns["common"] >= 0
    assert set(ns["sign"]) == {"semba", "tgn"}
