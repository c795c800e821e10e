"""Execute examples/temporal.ipynb's code cells (the run_notebook fixture)."""


def test_temporal_notebook_runs(run_notebook):
    ns = run_notebook("temporal.ipynb")
    for name in ("TGN", "TGN+PRES", "PyG TGN", "NAT"):
        assert 0.55 < ns["result"][name]["test"]["ap"] <= 1.0  # seeded: deterministic
    assert ns["counts"].shape[-1] == 6 and ns["common"] >= 0
    assert set(ns["sign"]) == {"semba", "tgn"}
