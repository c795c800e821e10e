"""Execute examples/link_prediction.ipynb's code cells (the run_notebook fixture)."""


def test_link_prediction_notebook_runs(run_notebook):
    ns = run_notebook("link_prediction.ipynb")
    assert ns["result"]["test"]["auc"] > 0.8
    assert ns["ids"].shape == (ns["queries"].numel(), 10)
    assert -1.0 <= ns["spearman"](ns["tc"], ns["atc"]) <= 1.0
