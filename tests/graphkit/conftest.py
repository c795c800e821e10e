"""Fixtures of the graphkit tests."""

import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def run_notebook():
    """Execute an example notebook's code cells in one namespace and return it
    (nbformat/nbclient are not dependencies)."""

    def run(name: str) -> dict:
        path = EXAMPLES / name
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert cells, f"{name} has no code cells"
        ns = {"__name__": "__notebook__"}
        for i, cell in enumerate(cells):
            exec(compile("".join(cell["source"]), f"{name}[cell {i}]", "exec"), ns)
        return ns

    return run
