"""Smoke test of the graph-classification runner: every model, one fold, one epoch."""

import json

import pytest

pytest.importorskip("torch_geometric")

from graphkit.experiments import graph_classification as gc  # noqa: E402


def test_runner_every_model_one_fold(tmp_path, capsys):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    assert gc.main(["--dataset", "MUTAG", "--model", "all", "--epochs", "1", "--max-folds", "1",
                    "--hidden", "16", "--json", str(out), "--plot", str(png)]) == 0
    res = json.loads(out.read_text())["results"]
    assert sorted(k.split("/")[1] for k in res) == sorted(gc.MODELS)
    for rows in res.values():
        assert len(rows) == 1 and 0.0 <= rows[0]["test_acc"] <= 1.0
    assert png.stat().st_size > 1000
    table = capsys.readouterr().out
    assert "histograph" in table and "+-" in table


def test_imdb_gets_degree_features_and_folds_are_stratified():
    graphs = gc.load_dataset("IMDB-BINARY")
    assert graphs[0].x.shape[1] == gc.MAX_DEGREE + 1
    assert all(float(g.x.sum()) == g.num_nodes for g in graphs[:20])
    with pytest.raises(ValueError, match="model must be one of"):
        gc.GraphClassifier(3, 2, "diffpool")
