"""Smoke test of the graph-classification runner: every model, one fold, one epoch."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch_geometric")

import torch  # noqa: E402

from graphkit.experiments import cpu_model  # noqa: E402
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


def test_hyperdrop_drops_edges_before_every_conv_but_the_last(monkeypatch):
    import torch
    from torch_geometric.data import Batch

    graphs = gc.load_dataset("MUTAG")[:8]
    batch = Batch.from_data_list(graphs)
    model = gc.GraphClassifier(graphs[0].x.shape[1], 2, "hyperdrop", hidden=16, num_layers=3,
                               edge_channels=graphs[0].edge_attr.shape[1], edge_ratio=0.5)
    assert len(model.pools) == 2 and all(p.ratio == 0.5 for p in model.pools)
    seen, weights, real = [], [], gc.gin_weighted

    def spy(conv, x, edge_index, edge_weight=None):
        seen.append(edge_index.shape[1])
        weights.append(edge_weight)
        return real(conv, x, edge_index, edge_weight)

    monkeypatch.setattr(gc, "gin_weighted", spy)
    model.eval()
    with torch.no_grad():
        assert model(batch).shape == (8, 2)
    e = batch.edge_index.shape[1]
    assert seen[0] == e and e // 4 <= seen[2] < seen[1] < e  # each drop keeps about half per graph
    # the convs after a drop weight its kept edges by clamp(tanh(score), 0, 1), as EHGNN's GCN does
    assert weights[0] is None and [w.shape[0] for w in weights[1:]] == seen[1:]
    assert all(float(w.min()) >= 0 and float(w.max()) <= 1 for w in weights[1:])
    model.edge_weighting = "sigmoid"  # the other option: no kept edge has weight 0
    seen.clear(), weights.clear()
    with torch.no_grad():
        model(batch)
    assert all(float(w.min()) > 0 and float(w.max()) < 1 for w in weights[1:])
    # the runner takes the reference scripts' ratio for the dataset unless told otherwise
    got = []
    monkeypatch.setattr(gc, "run_fold", lambda *a, edge_ratio, **kw: got.append(edge_ratio) or {"test_acc": 1.0, "val_acc": 1.0,
                                                                                   "val_loss": 0.1})
    for name, ratio in (("MUTAG", None), ("NCI1", None), ("MUTAG", 0.3)):
        gc.cross_validate(name, "hyperdrop", max_folds=1, edge_ratio=ratio, edge_weighting="tanh")
    assert got == [0.9, gc.DEFAULT_EDGE_RATIO, 0.3]


def test_paired_comparison_with_the_best_baseline():
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(0)
    acc = {m: rng.uniform(0.5, 0.9, 20) for m in ("mean", "sum", "histograph")}
    acc["sum"] += 0.2  # the best baseline
    res = {f"MUTAG/{m}": [{"seed": i // 10, "fold": i % 10, "test_acc": float(a)} for i, a in enumerate(v)]
           for m, v in acc.items()}
    res["MUTAG/histograph"] = res["MUTAG/histograph"][::-1]  # pairing goes by (seed, fold), not order
    (r,) = gc.paired_vs_best_baseline(res, "MUTAG")
    d = 100 * (acc["histograph"] - acc["sum"])
    assert r["baseline"] == "sum" and r["n"] == 20
    assert r["diff"] == pytest.approx(d.mean())
    lo, hi = stats.t.interval(0.95, 19, loc=d.mean(), scale=stats.sem(d))
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert r["p"] == pytest.approx(stats.ttest_rel(acc["histograph"], acc["sum"]).pvalue)
    assert gc.paired_vs_best_baseline(res, "PROTEINS") == []
    assert gc.paired_vs_best_baseline({k: v for k, v in res.items() if "histograph" not in k}, "MUTAG") == []
    # the same accuracy on every split (a short run): a tie, p = 1, not scipy's NaN
    same = {"MUTAG/mean": res["MUTAG/mean"], "MUTAG/histograph": [dict(r) for r in res["MUTAG/mean"]]}
    (r,) = gc.paired_vs_best_baseline(same, "MUTAG")
    assert (r["diff"], r["ci_low"], r["ci_high"], r["p"]) == (0.0, 0.0, 0.0, 1.0)
    for r in same["MUTAG/histograph"]:
        r["test_acc"] += 0.125                 # ahead by the same 12.5 points everywhere
    (r,) = gc.paired_vs_best_baseline(same, "MUTAG")
    assert (r["diff"], r["ci_low"], r["ci_high"], r["p"]) == (12.5, 12.5, 12.5, 0.0)


# (model, its option chosen on validation, the CLI flag, two option values: the paper's first)
WEIGHTINGS = [("histograph", "layer_weighting", "--layer-weighting", ("sum", "softmax")),
              ("hyperdrop", "edge_weighting", "--edge-weighting", ("tanh", "sigmoid")),
              ("token_graph", "token_threshold", "--token-threshold", (0.8, 0.6))]


@pytest.mark.parametrize("model,name,flag,values", WEIGHTINGS)
def test_runner_passes_the_option(monkeypatch, model, name, flag, values):
    def option(module):
        return {"histograph": lambda: module.readout.layer_weighting, "hyperdrop": lambda: module.edge_weighting,
                "token_graph": lambda: module.readout.threshold}[model]()

    assert option(gc.GraphClassifier(7, 2, model, hidden=16)) == values[0]  # the paper's
    assert option(gc.GraphClassifier(7, 2, model, hidden=16, **{name: values[1]})) == values[1]
    assert gc.CHOSEN_ON_VALIDATION[model] == name
    got = []
    monkeypatch.setattr(gc, "run_fold", lambda *a, **kw: got.append(kw[name]) or
                        {"test_acc": 1.0, "val_acc": 1.0, "val_loss": 0.0, "seconds": 1.0, "graphs_per_s": 1.0})
    assert gc.main(["--dataset", "MUTAG", "--model", model, "--max-folds", "1", flag, str(values[1])]) == 0
    assert got == [values[1]]
    for bad in ("", "max", f"{values[0]},{values[0]}"):
        with pytest.raises(SystemExit):
            gc.main(["--dataset", "MUTAG", "--model", model, flag, bad])


@pytest.mark.parametrize("model,name,flag,values", WEIGHTINGS)
def test_option_is_chosen_on_validation(monkeypatch, capsys, model, name, flag, values):
    """Both options run on every split and the run keeps the better mean validation
    accuracy, whatever the test figures; the runner prints both."""
    calls = []
    first, second = values
    fake = {first: (0.70, 0.5, 0.90), second: (0.75, 0.6, 0.60)}  # (val acc, val loss, test acc)

    def fake_fold(graphs, tr, te, m, seed, **kw):
        calls.append((m, kw.get(name)))
        va, loss, test = fake[kw[name]] if m == model else (0.5, 1.0, 0.5)
        return {"test_acc": test, "val_acc": va, "val_loss": loss, "seconds": 1.0, "graphs_per_s": 1.0}

    monkeypatch.setattr(gc, "run_fold", fake_fold)
    rows = gc.cross_validate("MUTAG", model, max_folds=2, **{name: values})
    assert sorted(calls) == sorted([(model, first)] * 2 + [(model, second)] * 2)
    assert all(r[name] == second and r["test_acc"] == 0.6 for r in rows)
    assert rows[1]["by_option"] == {str(first): {"val_acc": 0.7, "val_loss": 0.5, "test_acc": 0.9},
                                    str(second): {"val_acc": 0.75, "val_loss": 0.6, "test_acc": 0.6}}
    calls.clear()
    gc.cross_validate("MUTAG", "mean", max_folds=1)
    assert calls == [("mean", None)]  # the other models train once, without the option
    assert gc.main(["--dataset", "MUTAG", "--model", f"{model},mean", "--max-folds", "1", "--quiet",
                    flag, f"{first},{second}"]) == 0
    assert f"{model}'s {name} {second}, chosen on mean validation accuracy: {first} val 70.00 test 90.00; " \
           f"{second} val 75.00 test 60.00" in capsys.readouterr().out
    with pytest.raises(ValueError, match=flag):
        gc.cross_validate("MUTAG", model, max_folds=1, **{name: (first, first)})


def test_default_options_run_several_and_token_thresholds_are_cosines():
    assert gc.LAYER_WEIGHTINGS == ("sum", "softmax") and gc.EDGE_WEIGHTINGS == ("tanh", "sigmoid")
    assert 0.8 in gc.TOKEN_THRESHOLDS and len(gc.TOKEN_THRESHOLDS) > 1
    assert gc.parse_numbers("0.6, 0.8", "--token-threshold", gc.check_thresholds) == (0.6, 0.8)
    for bad in ("", "0.8,0.8", "1.5", "-2", "x", "nan"):
        with pytest.raises(ValueError, match="--token-threshold"):
            gc.parse_numbers(bad, "--token-threshold", gc.check_thresholds)


def test_hyperdrop_edge_weights():
    """EHGNN's clamp(tanh) gives an edge scored below 0 weight 0 and no gradient; the sigmoid
    gives every kept edge a weight in (0, 1) and a gradient."""
    import torch

    score = torch.tensor([-2.0, -0.1, 0.0, 0.5, 3.0], requires_grad=True)
    w = gc.hyperdrop_edge_weight(score, "tanh")
    assert torch.allclose(w, torch.tensor([0.0, 0.0, 0.0, float(torch.tanh(torch.tensor(0.5))), 0.99505475]))
    w.sum().backward()
    assert score.grad[:2].eq(0).all() and score.grad[3:].gt(0).all()
    score.grad = None
    w = gc.hyperdrop_edge_weight(score, "sigmoid")
    assert torch.allclose(w, 1 / (1 + torch.exp(-score.detach()))) and w.gt(0).all() and w.lt(1).all()
    w.sum().backward()
    assert score.grad.gt(0).all()
    with pytest.raises(ValueError, match="edge weighting"):
        gc.hyperdrop_edge_weight(score, "relu")
    with pytest.raises(ValueError, match="edge_weighting"):
        gc.GraphClassifier(7, 2, "hyperdrop", edge_weighting="relu")


def test_depth_sweep_runs_each_depth_as_its_own_setting(tmp_path, monkeypatch, capsys):
    got = []

    def fake_fold(graphs, tr, te, model, seed, num_layers, **kw):
        got.append((model, num_layers))
        return {"test_acc": 0.5 + num_layers / 100 + (model == "histograph") / 10, "val_acc": 0.5, "val_loss": 1.0,
                "seconds": 1.0, "graphs_per_s": 1.0}

    monkeypatch.setattr(gc, "run_fold", fake_fold)
    out, png = tmp_path / "r.json", tmp_path / "depth.png"
    assert gc.main(["--dataset", "MUTAG", "--model", "histograph,mean", "--layers", "2,8", "--max-folds", "2",
                    "--layer-weighting", "sum", "--json", str(out), "--plot", str(png)]) == 0
    assert got == [("histograph", 2)] * 2 + [("mean", 2)] * 2 + [("histograph", 8)] * 2 + [("mean", 8)] * 2
    res = json.loads(out.read_text())["results"]
    assert sorted(res) == ["MUTAG:L2/histograph", "MUTAG:L2/mean", "MUTAG:L8/histograph", "MUTAG:L8/mean"]
    assert all(r["layers"] == 8 for r in res["MUTAG:L8/mean"])
    assert png.stat().st_size > 1000
    text = capsys.readouterr().out
    # one paired comparison per depth, each against the baseline of that depth
    assert "# MUTAG:L2: ours - best baseline (mean)" in text and "# MUTAG:L8: ours - best baseline (mean)" in text
    assert text.count("#   histograph  +10.00 [") == 2
    for bad in ("0,4", "4,4", "x"):
        with pytest.raises(SystemExit):
            gc.main(["--layers", bad])


def test_gin_weighted_is_gin_with_weights_in_its_sum():
    import torch

    graphs = gc.load_dataset("MUTAG")[:4]
    from torch_geometric.data import Batch

    b = Batch.from_data_list(graphs)
    torch.manual_seed(0)
    conv = gc._gin(b.x.shape[1], 8)
    conv.eval()
    with torch.no_grad():
        conv.eps.fill_(0.3)
        e = b.edge_index.shape[1]
        assert torch.allclose(gc.gin_weighted(conv, b.x, b.edge_index, torch.ones(e)), conv(b.x, b.edge_index), atol=1e-6)
        keep = torch.rand(e) < 0.5  # weight 0 = the edge is gone
        assert torch.allclose(gc.gin_weighted(conv, b.x, b.edge_index, keep.float()),
                              conv(b.x, b.edge_index[:, keep]), atol=1e-6)
        w = torch.rand(e)  # the weighted sum against a dense reference
        A = torch.zeros(b.num_nodes, b.num_nodes).index_put_((b.edge_index[1], b.edge_index[0]), w, accumulate=True)
        assert torch.allclose(gc.gin_weighted(conv, b.x, b.edge_index, w), conv.nn(1.3 * b.x + A @ b.x), atol=1e-5)


def test_every_runner_model_trains_all_its_parameters():
    """One loss.backward() reaches every parameter (HyperDrop's edge scorers once got none in
    the runner: nothing after a drop depended on the scores, so edges were dropped at random)."""
    import torch
    from torch_geometric.data import Batch

    graphs = gc.load_dataset("MUTAG")[:16]
    b = Batch.from_data_list(graphs)
    # PyG's SAGPooling keeps an unused SelectTopK weight; rpn's spatial bandwidth needs pos (TU sets have
    # none); the bias of GLOT's token scorer adds one constant to every score, which its softmax cancels
    unused = {"sag": lambda n: n.endswith(".select.weight"), "rpn": lambda n: n == "readout.log_sigma",
              "token_graph": lambda n: n == "readout.scorer.2.bias"}
    for name in gc.MODELS:
        torch.manual_seed(0)
        m = gc.GraphClassifier(b.x.shape[1], 2, name, hidden=16, num_layers=3, edge_channels=b.edge_attr.shape[1],
                               edge_ratio=0.5)
        gc._loss(m, b, 0.1, torch.Generator().manual_seed(0)).backward()
        dead = {n for n, p in m.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)}
        allowed = unused.get(name, lambda n: False)
        assert not {n for n in dead if not allowed(n)}, name


def test_rpn_contrastive_terms_act_on_the_projection_not_on_the_head_input():
    """SupCon's projection network: the contrastive terms reach proj, cross-entropy does not."""
    import torch
    from torch_geometric.data import Batch

    b = Batch.from_data_list(gc.load_dataset("MUTAG")[:16])
    for weight, proj_trained in ((0.0, False), (0.1, True)):
        torch.manual_seed(0)
        m = gc.GraphClassifier(b.x.shape[1], 2, "rpn", hidden=16)
        gc._loss(m, b, weight, torch.Generator().manual_seed(0)).backward()
        got = any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in m.proj.parameters())
        assert got == proj_trained
        m.eval()
        with torch.no_grad():  # the logits never read the projection
            before = m(b)
            for p in m.proj.parameters():
                p.add_(1.0)
            assert torch.equal(m(b), before)


def test_training_batches_never_end_on_a_few_graphs():
    """The training loader draws every graph once per epoch; a last batch smaller than a
    quarter of the batch size joins the one before it (NCI1's folds ended on a batch of one
    graph), and otherwise the batches and the generator's state are exactly those of PyG's
    shuffled DataLoader, so runs with a larger last batch keep their figures."""
    import torch
    from torch_geometric.loader import DataLoader

    graphs = gc.load_dataset("MUTAG")                              # 188 graphs
    for i, g in enumerate(graphs):
        g.idx = torch.tensor([i])
    for batch_size, sizes in ((50, [50, 50, 50, 38]), (62, [62, 62, 64]), (200, [188])):
        ref, gen = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        plain = DataLoader(graphs, batch_size=batch_size, shuffle=True, generator=ref)
        ours = gc.train_loader(graphs, batch_size, gen)
        assert len(ours) == len(sizes)
        for _ in range(2):                                         # two epochs
            a = [b.idx.tolist() for b in plain]
            b = [b.idx.tolist() for b in ours]
            assert [len(x) for x in b] == sizes and sorted(sum(b, [])) == list(range(188))
            merged = a[:-2] + [a[-2] + a[-1]] if len(a[-1]) < batch_size // 4 else a
            assert b == merged
        assert torch.equal(torch.rand(3, generator=ref), torch.rand(3, generator=gen))
    with pytest.raises(ValueError):
        gc.MergeLastBatchSampler(range(3), 0, 1)


def test_rpn_contrastive_weights_train_on_the_same_batches(monkeypatch):
    """rpn's perturbed views draw from a generator of their own: every contrastive weight sees
    the same batches in the same order, and a weight > 0 really draws views."""
    import torch

    import graphkit.pool as pool

    graphs = gc.load_dataset("MUTAG")
    for i, g in enumerate(graphs):
        g.idx = torch.tensor([i])
    idx = list(range(len(graphs)))
    seen, views, loss, real_perturb = [], [], gc._loss, pool.perturb_graph

    def recording_loss(model, data, contrastive, generator):
        seen[-1].append(data.idx.tolist())
        return loss(model, data, contrastive, generator)

    def recording_perturb(data, **kw):
        views[-1] += 1
        return real_perturb(data, **kw)

    monkeypatch.setattr(gc, "_loss", recording_loss)
    monkeypatch.setattr(pool, "perturb_graph", recording_perturb)
    for weight in (0.0, 0.1):
        seen.append([])
        views.append(0)
        gc.run_fold(graphs, idx[:120], idx[120:], "rpn", 3, epochs=3, hidden=8, batch_size=32, contrastive=weight)
    assert seen[0] == seen[1] and len(seen[0]) == 3 * 4         # 108 training graphs, 3 epochs
    assert views == [0, len(seen[0])]
    assert gc.view_seed(3) != 3 and gc.view_seed(3) != gc.view_seed(4)


def test_best_option_merges_runs_made_apart():
    """Runs of the same options made apart merge by the runner's rule through their
    ``by_option``: best mean validation accuracy over all splits, then lower mean loss, then
    the first given; an equal accuracy is decided by the loss, never by the test figure."""
    seed0 = [{"by_option": {"sum": {"val_acc": 0.8, "val_loss": 0.5, "test_acc": 0.7},
                            "softmax": {"val_acc": 0.7, "val_loss": 0.4, "test_acc": 0.9}}}]
    seeds12 = [{"by_option": {"sum": {"val_acc": 0.6, "val_loss": 0.6, "test_acc": 0.7},
                              "softmax": {"val_acc": 0.7, "val_loss": 0.5, "test_acc": 0.6}}}] * 2
    rows = seed0 + seeds12
    merged = {o: [r["by_option"][o] for r in rows] for o in ("sum", "softmax")}
    assert gc.best_option(merged) == "softmax"                          # 0.70 against 0.667
    assert gc.best_option({o: [r["by_option"][o] for r in seed0] for o in ("sum", "softmax")}) == "sum"
    tie = {"sum": [{"val_acc": 0.7, "val_loss": 0.5}], "softmax": [{"val_acc": 0.7, "val_loss": 0.4}]}
    assert gc.best_option(tie) == "softmax"
    tie["softmax"][0]["val_loss"] = 0.5
    assert gc.best_option(tie) == "sum"
    # the same accuracies in another order: means that differ in the last bits are still a tie
    order = {"sum": [{"val_acc": v, "val_loss": 0.5} for v in (0.1, 0.2, 0.3)],
             "softmax": [{"val_acc": v, "val_loss": 0.4} for v in (0.3, 0.2, 0.1)]}
    assert np.mean([0.1, 0.2, 0.3]) > np.mean([0.3, 0.2, 0.1])
    assert gc.best_option(order) == "softmax"
    with pytest.raises(ValueError):
        gc.best_option({})


def test_rpn_contrastive_weight_is_chosen_on_validation(monkeypatch):
    """Several weights: every weight runs on every split and the run keeps the weight with the
    best mean validation accuracy (then the lower loss), whatever its test accuracy; other
    models train once; bad weights are refused."""
    calls = []
    # weight: (val acc, val loss, test acc) on every split
    fake = {0.0: (0.80, 0.5, 0.95), 0.1: (0.90, 0.6, 0.70), 0.2: (0.90, 0.4, 0.60)}

    def fake_fold(graphs, tr, te, model, seed, contrastive=None, **kw):
        calls.append((model, seed, contrastive))
        va, loss, test = fake.get(contrastive, (0.5, 1.0, 0.5))
        return {"test_acc": test, "val_acc": va, "val_loss": loss}

    monkeypatch.setattr(gc, "run_fold", fake_fold)
    rows = gc.cross_validate("MUTAG", "rpn", seeds=(0, 1), max_folds=2, contrastive=(0.0, 0.1, 0.2))
    assert sorted(calls) == sorted((m, s, w) for m in ["rpn"] for s in (0, 1) for w in fake for _ in range(2))
    assert len(rows) == 4 and all(r["contrastive"] == 0.2 and r["test_acc"] == 0.6 for r in rows)
    assert rows[0]["by_option"]["0.0"] == {"val_acc": 0.8, "val_loss": 0.5, "test_acc": 0.95}
    fake[0.2] = (0.90, 0.7, 0.60)  # equal validation accuracy: the lower loss wins
    assert gc.cross_validate("MUTAG", "rpn", max_folds=2, contrastive=(0.0, 0.1, 0.2))[0]["contrastive"] == 0.1
    calls.clear()
    rows = gc.cross_validate("MUTAG", "mean", max_folds=2, contrastive=(0.0, 0.1))
    assert calls == [("mean", 0, None)] * 2 and "contrastive" not in rows[0] and "by_option" not in rows[0]
    assert gc.parse_weights("0, 0.1") == (0.0, 0.1)
    for bad in ("", "0,0", "-0.1", "x", "nan"):
        with pytest.raises(ValueError, match="--contrastive"):
            gc.parse_weights(bad)
    with pytest.raises(ValueError, match="contrastive weights"):
        gc.cross_validate("MUTAG", "rpn", max_folds=1, contrastive=(-1.0,))


def test_patience_ends_a_fold_after_that_many_epochs_without_a_better_validation_figure():
    graphs = gc.load_dataset("MUTAG")
    idx = list(range(len(graphs)))
    tr, te = idx[::2], idx[1::2]
    full = gc.run_fold(graphs, tr, te, "mean", 0, epochs=12, hidden=8)
    assert full["epochs_run"] == 12
    r = gc.run_fold(graphs, tr, te, "mean", 0, epochs=12, hidden=8, patience=2)
    # the same seed trains the same epochs until it stops, exactly `patience` epochs after
    # its best; here the full run finds nothing better later, so the figures are the same
    assert r["epochs_run"] == r["best_epoch"] + 3 < 12
    assert (r["best_epoch"], r["test_acc"], r["val_acc"]) == (full["best_epoch"], full["test_acc"], full["val_acc"])
    with pytest.raises(ValueError, match="patience"):
        gc.run_fold(graphs, tr, te, "mean", 0, epochs=2, hidden=8, patience=0)
    with pytest.raises(SystemExit):
        gc.main(["--dataset", "MUTAG", "--patience", "0"])


def test_runner_rejects_an_unknown_dataset(capsys):
    with pytest.raises(SystemExit) as e:  # a usage error before any training, not a traceback
        gc.main(["--dataset", "MUTAG,NOPE", "--model", "mean"])
    assert e.value.code == 2 and "unknown TU dataset 'NOPE'" in capsys.readouterr().err


def test_json_is_written_after_every_model(tmp_path, monkeypatch):
    """A run that fails on its second model keeps the first model's folds in --json."""
    def fake_cv(dataset, model, *a, **kw):
        if model == "sum":
            raise RuntimeError("killed")
        return [{"test_acc": 0.5, "val_acc": 0.5, "val_loss": 1.0, "seconds": 1.0, "graphs_per_s": 1.0}]

    monkeypatch.setattr(gc, "cross_validate", fake_cv)
    out = tmp_path / "r.json"
    with pytest.raises(RuntimeError, match="killed"):
        gc.main(["--dataset", "MUTAG", "--model", "mean,sum", "--json", str(out), "--quiet"])
    res = json.loads(out.read_text())["results"]
    assert list(res) == ["MUTAG/mean"] and res["MUTAG/mean"][0]["test_acc"] == 0.5
    assert not (tmp_path / "r.json.tmp").exists()


def test_runs_made_apart_merge_as_one_run(tmp_path, monkeypatch, capsys):
    """Seeds run in two processes and merged with --merge give one run's rows over both seeds:
    the option is chosen again on validation over all the splits (here not the one seed 0 alone
    chose) with its test figures, and timings stay only on rows whose own run had that option.
    Options run in two processes merge the same way. Overlapping splits (or an option of a split
    run twice), another protocol, other options, old rows and a corrupt file are refused."""
    # (seed, layer weighting): (val acc, val loss, test acc) on every fold
    fake = {(0, "sum"): (0.8, 0.5, 0.7), (0, "softmax"): (0.7, 0.4, 0.9),
            (1, "sum"): (0.6, 0.6, 0.65), (1, "softmax"): (0.75, 0.5, 0.6)}

    def fake_fold(graphs, tr, te, model, seed, layer_weighting=None, **kw):
        va, loss, test = fake.get((seed, layer_weighting), (0.5, 1.0, 0.5 + 0.01 * seed + 0.001 * len(te)))
        return {"test_acc": test, "val_acc": va, "val_loss": loss, "best_epoch": 0, "epochs_run": 1,
                "seconds": 1.0, "graphs_per_s": 10.0}

    monkeypatch.setattr(gc, "run_fold", fake_fold)

    def run(name, *args):
        path = str(tmp_path / name)
        gc.main(["--dataset", "MUTAG", "--model", "mean,histograph", "--max-folds", "2", "--epochs", "1", "-q",
                 "--json", path, *args])
        return path

    a, b = run("a.json", "--seeds", "0"), run("b.json", "--seeds", "1")
    whole = json.loads(open(run("whole.json", "--seeds", "0", "1")).read())
    assert json.loads(open(a).read())["results"]["MUTAG/histograph"][0]["layer_weighting"] == "sum"
    capsys.readouterr()
    merged_path = str(tmp_path / "merged.json")
    assert gc.main(["--merge", a, b, "--json", merged_path]) == 0
    out = capsys.readouterr().out
    assert "seeds [0, 1]" in out and "merged from 2 files" in out and "layer_weighting softmax" in out
    merged = json.loads(open(merged_path).read())
    assert merged["protocol"] == whole["protocol"] and list(merged["results"]) == list(whole["results"])
    keys = ("seed", "fold", "test_acc", "val_acc", "val_loss", "layer_weighting", "by_option")
    for k, rows in whole["results"].items():
        assert [{f: r.get(f) for f in keys} for r in merged["results"][k]] == [{f: r.get(f) for f in keys} for r in rows]
    hist = merged["results"]["MUTAG/histograph"]
    assert [("seconds" in r) for r in hist] == [False, False, True, True]  # seed 0's own run had "sum"
    assert all("seconds" in r for r in merged["results"]["MUTAG/mean"])
    # the options run apart (each split in two runs, one option each) merge as well
    hs, hx = (run(f"h{o}.json", "--seeds", "0", "1", "--model", "histograph", "--layer-weighting", o)
              for o in ("sum", "softmax"))
    apart = gc.merge_results([json.loads(open(p).read()) for p in (hs, hx)])["MUTAG/histograph"]
    assert [{f: r.get(f) for f in keys} for r in apart] == [
        {f: r.get(f) for f in keys} for r in whole["results"]["MUTAG/histograph"]]
    assert all("seconds" in r for r in apart)  # each split's softmax run is among the parts
    # the files' order changes nothing, not even the order options are listed in
    reverse = gc.merge_results([json.loads(open(p).read()) for p in (hx, hs)])["MUTAG/histograph"]
    assert reverse == apart and all(list(r["by_option"]) == ["sum", "softmax"] for r in reverse)
    assert gc.option_order("token_threshold", ["0.9", "0.6", "0.8"]) == ["0.6", "0.8", "0.9"]
    assert gc.option_order("contrastive", ["0.1", "0.0"]) == ["0.0", "0.1"]
    for name, bad in (("edge_weighting", ["sigmoid", "relu"]), ("contrastive", ["0.1", "-0.1"]),
                      ("contrastive", ["0.1", "0.10"]), ("token_threshold", ["0.8", "x"])):
        with pytest.raises(ValueError, match="not the runner's"):
            gc.option_order(name, bad)
    refused = [("more than one run", [a, merged_path]), ("more than one run", [a, hs]),
               ("different protocols", [a, run("c.json", "--seeds", "1", "--epochs", "2")]),
               ("different options", [a, run("d.json", "--seeds", "1", "--layer-weighting", "sum")])]
    (tmp_path / "bad.json").write_text("{")
    refused.append(("not a readable results file", [a, str(tmp_path / "bad.json")]))
    for why, files in refused:
        with pytest.raises(SystemExit):
            gc.main(["--merge", *files])
        assert why in capsys.readouterr().err
    old = json.loads(open(a).read())
    for r in old["results"]["MUTAG/histograph"]:
        for o in r["by_option"].values():
            del o["val_loss"]
    with pytest.raises(ValueError, match="validation losses"):
        gc.merge_results([old])


def test_paired_comparison_says_how_many_splits_each_method_shares(capsys):
    """One count in the header when every method shares all splits with the best baseline;
    a count per line when some ran on fewer (a partial merge), never the first method's for all."""
    def rows(acc, folds):
        return [{"seed": 0, "fold": f, "test_acc": acc + 0.01 * f} for f in range(folds)]

    results = {"MUTAG/mean": rows(0.5, 3), "MUTAG/histograph": rows(0.6, 3)}
    gc.report_end(results, ["MUTAG"], False, None)
    out = capsys.readouterr().out
    assert "paired over 3 (seed, fold) splits" in out and "n=" not in out
    gc.report_end(results | {"MUTAG/rpn": rows(0.7, 2)}, ["MUTAG"], False, None)
    out = capsys.readouterr().out
    assert "both ran on (n)" in out and "+10.00" in out and "n=3" in out and "n=2" in out


def test_markdown_table_holds_every_model_seed_option_and_comparison(tmp_path, capsys):
    """--markdown: per dataset, one row per model with its mean +- std, each seed's mean, the
    option kept with every option's validation / test mean, and for ours the paired comparison
    with the best baseline and whether its mean reaches that baseline's (the best in bold);
    standing: the summary of the last two over datasets."""
    def rows(accs, option=None):
        out = []
        for i, a in enumerate(accs):
            r = {"seed": i // 2, "fold": i % 2, "test_acc": a}
            if option:
                r["layer_weighting"] = option
                r["by_option"] = {"sum": {"val_acc": 0.5, "val_loss": 1.0, "test_acc": a - 0.1},
                                  "softmax": {"val_acc": 0.75, "val_loss": 1.0, "test_acc": a}}
            out.append(r)
        return out

    # in another order than the runner's (as a merge of files in name order gives): rows follow MODELS
    results = {"MUTAG/rpn": rows([0.5, 0.5, 0.5, 0.5]), "MUTAG/histograph": rows([0.6, 0.6, 0.8, 0.8], "softmax"),
               "MUTAG/sum": rows([0.4, 0.5, 0.6, 0.7]), "MUTAG/mean": rows([0.5, 0.6, 0.7, 0.8]),
               "PROTEINS/sum": rows([0.7, 0.7, 0.7, 0.7])}
    md = gc.markdown(results, "2-fold CV, seeds [0, 1]")
    lines = md.splitlines()
    assert lines[:3] == ["### MUTAG", "", "2-fold CV, seeds [0, 1]."]
    assert "seed 0 | seed 1" in lines[4] and "vs best baseline (mean)" in lines[4]
    table = {ln.split(" | ")[0].lstrip("| "): ln.split(" | ") for ln in lines[6:lines.index("### PROTEINS") - 1]}
    assert list(table) == ["**mean** (best baseline)", "sum", "histograph", "rpn"]
    assert table["**mean** (best baseline)"][1:5] == ["**65.00 ± 11.18**", "4", "55.00", "75.00"]
    hist = table["histograph"]
    assert hist[1:5] == ["70.00 ± 10.00", "4", "60.00", "80.00"]
    assert hist[5] == "softmax (sum 50.00 / 60.00; softmax 75.00 / 70.00)"
    (r_hist,) = [r for r in gc.paired_vs_best_baseline(results, "MUTAG") if r["method"] == "histograph"]
    assert hist[6] == f"+5.00 [{r_hist['ci_low']:+.2f}, {r_hist['ci_high']:+.2f}], p={r_hist['p']:.2f}"
    assert hist[7].rstrip(" |") == "yes" and table["rpn"][7].rstrip(" |") == "no"
    assert table["sum"][5:] == ["", "", " |"]  # a baseline: no option, no comparison
    # PROTEINS: one baseline, none of ours
    assert lines[-1] == "| **sum** (best baseline) | **70.00 ± 0.00** | 4 | 70.00 | 70.00 |  |  |  |"
    # from the command line, after a run and after a merge (the file is written whole)
    out = tmp_path / "t.md"
    assert gc.main(["--dataset", "MUTAG", "--model", "mean,rpn", "--epochs", "1", "--max-folds", "2",
                    "--hidden", "8", "-q", "--contrastive", "0", "--json", str(tmp_path / "r.json"),
                    "--markdown", str(out)]) == 0
    text = out.read_text()
    assert "### MUTAG" in text and "| rpn | " in text and "**mean** (best baseline)" in text
    assert "seed 0 |" not in text  # one seed: no per-seed columns
    assert gc.main(["--merge", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "m.md")]) == 0
    assert (tmp_path / "m.md").read_text() == text
    assert not list(tmp_path.glob("*.tmp"))
    capsys.readouterr()
    # where each of ours stands, over settings of different protocols (rpn did not run on PROTEINS)
    results["PROTEINS/histograph"] = rows([0.8, 0.7, 0.7, 0.6], "sum")
    table = gc.standing(results).splitlines()
    assert table[0] == "| setting | best baseline | histograph | rpn |"
    p_rpn = next(r["p"] for r in gc.paired_vs_best_baseline(results, "MUTAG") if r["method"] == "rpn")
    assert table[2] == (f"| MUTAG | mean 65.00 | **70.00** reaches (+5.00, p={r_hist['p']:.2f}) | "
                        f"50.00 (-15.00, p={p_rpn:.2f}) |")
    assert table[3] == "| PROTEINS | sum 70.00 | **70.00** reaches (+0.00, p=1.00) | - |"
    assert table[4] == "| settings reached | | 2 of 2 | 0 of 1 |"


def test_runs_record_their_environment_and_a_merge_says_when_they_differ(tmp_path, monkeypatch, capsys):
    """--json records the versions, threads, CPU kernels and CPU model the figures came from (a
    run repeats its figures only there: HISTOGRAPH's change between AVX2 and AVX512 kernels,
    every model's between CPU models); --merge keeps
    every distinct environment of its files, says so in its header and in --markdown, and counts
    a file from before they were recorded as one more, "not recorded"."""
    def fake_fold(graphs, tr, te, model, seed, **kw):
        return {"test_acc": 0.5 + 0.01 * seed, "val_acc": 0.5, "val_loss": 1.0, "best_epoch": 0, "epochs_run": 1,
                "seconds": 1.0, "graphs_per_s": 10.0}

    monkeypatch.setattr(gc, "run_fold", fake_fold)

    def run(name, seed):
        path = tmp_path / name
        gc.main(["--dataset", "MUTAG", "--model", "mean", "--max-folds", "2", "--epochs", "1", "-q",
                 "--seeds", str(seed), "--json", str(path)])
        return path

    a, b, c = run("a.json", 0), run("b.json", 1), run("c.json", 2)
    (env,) = json.loads(a.read_text())["environments"]
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and env["torch"] == torch.__version__
    assert env["threads"] == 1  # --threads' default
    # the CPU model and MKL's code path (MKL_CBWR) change the figures too
    assert env["cpu"] and env["cpu"] == cpu_model() and env["mkl"] == "default"
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    assert gc.environment()["mkl"] == "MKL_CBWR=AVX2" and "MKL_CBWR=AVX2" in gc.environment_text(gc.environment())
    monkeypatch.delenv("MKL_CBWR")
    assert f"# environment: torch {torch.__version__}" in capsys.readouterr().out
    # the same environment twice is one; b made on AVX2 kernels, c before environments were recorded
    other = json.loads(b.read_text())
    other["environments"][0]["cpu_capability"] = "AVX2" if env["cpu_capability"] != "AVX2" else "AVX512"
    b.write_text(json.dumps(other))
    old = json.loads(c.read_text())
    del old["environments"]
    c.write_text(json.dumps(old))
    for files, n in (([a], 1), ([a, b], 2), ([a, b, c], 3)):
        md, merged = tmp_path / f"m{n}.md", tmp_path / f"m{n}.json"
        assert gc.main(["--merge", *map(str, files), "--json", str(merged), "--markdown", str(md)]) == 0
        out, text = capsys.readouterr().out, md.read_text()
        envs = json.loads(merged.read_text())["environments"]
        assert len(envs) == n and envs[0] == env
        if n == 1:
            assert f"# environment: {gc.environment_text(env)}" in out and "Environment: torch" in text
        else:
            assert f"# {n} environments (figures repeat only in the one that made them)" in out
            assert f"{n} environments" in text and "CPU kernels AVX" in text
    assert envs[2] == {} and "[not recorded]" in out


RUNS = Path(__file__).resolve().parents[2] / "docs" / "graph_classification_runs"


@pytest.mark.parametrize("runs,page,pairs", [
    (RUNS, RUNS.parent / "graph_classification.md", 45),  # all nine models on each of the five sets, one CPU model
    (RUNS / "replaced", RUNS / "replaced" / "README.md", 23),  # the first machine's stored rows: MUTAG 9, NCI1 2, PROTEINS 6, ENZYMES 6
    (RUNS / "depth", RUNS / "depth" / "README.md", 12)])  # MUTAG at 5, 16 and 32 GIN layers: mean, sum, gmt, histograph
def test_the_results_page_holds_the_stored_runs_figures(runs, page, pairs):
    """docs/graph_classification.md against the per-split files kept beside it (and the
    replaced/ and depth/ tables against theirs): every model whose runs are stored has, on the
    page, the mean +- std, splits, per-seed means and option kept (with each option's figures)
    that --merge of those files gives. Each folder's files merge by set, so a folder holds one
    machine's runs of a set (a depth sweep's set has a table per depth)."""
    by_set: dict[str, list] = {}
    for path in sorted(runs.glob("*_s*_*.json")):
        by_set.setdefault(re.match(r"(.+)_s\d+_", path.name).group(1), []).append(json.loads(path.read_text()))
    page = gc.markdown_tables(page.read_text())
    checked = 0
    for name, files in by_set.items():
        made = gc.markdown_tables(gc.markdown(gc.merge_results(files), "merged"))
        assert all(setting == name or setting.startswith(f"{name}:L") for setting in made), (name, list(made))
        for setting, models in made.items():
            for model, cells in models.items():
                assert page[setting][model][1:7] == cells[1:7], (setting, model)
                checked += 1
    assert checked == pairs


def test_the_results_page_plots(monkeypatch):
    """The page's own plot command (--plot-markdown docs/graph_classification.md) reads the nine
    models of each of the five sets, and nothing from its other tables."""
    drawn = {}
    monkeypatch.setattr(gc, "bar_chart", lambda stats, path: drawn.update(stats))
    gc.plot_markdown((RUNS.parent / "graph_classification.md").read_text(), "page.png")
    sets = ("MUTAG", "IMDB-BINARY", "PROTEINS", "ENZYMES", "NCI1")
    assert sorted(drawn) == sorted(f"{d}/{m}" for d in sets for m in gc.MODELS)


def test_a_page_of_markdown_tables_plots_as_its_figures(tmp_path, monkeypatch, capsys):
    """--plot-markdown draws the bar chart from the mean ± std cells of Markdown tables (a page
    put together from several merges) as --plot draws it from the runs; text without tables,
    a bad cell and a missing --plot are refused."""
    rng = np.random.default_rng(0)
    results = {f"{d}/{m}": [{"seed": 0, "fold": f, "test_acc": float(rng.uniform(0.5, 0.9))} for f in range(4)]
               for d in ("MUTAG", "NCI1") for m in ("mean", "histograph", "gmt")}
    # another table under a set's heading (a side-by-side, not a results table) is left out
    other = "\n| | mean | gmt |\n|---|---|---|\n| other CPU | 84.79 | 84.88 |\n"
    text = "# page\n\nsome text\n\n" + gc.markdown(results, "4-fold CV") + other
    tables = gc.markdown_tables(text)
    assert list(tables) == ["MUTAG", "NCI1"] and list(tables["NCI1"]) == ["mean", "gmt", "histograph"]
    drawn = {}
    monkeypatch.setattr(gc, "bar_chart", lambda stats, path: drawn.setdefault(path, stats))
    gc.plot(results, "runs.png")
    gc.plot_markdown(text, "page.png")
    assert sorted(drawn["page.png"]) == sorted(drawn["runs.png"])
    for k, (mean, std) in drawn["runs.png"].items():
        assert drawn["page.png"][k] == (round(mean, 2), round(std, 2))
    with pytest.raises(ValueError, match="no results tables"):
        gc.plot_markdown("# nothing here\n", "x.png")
    with pytest.raises(ValueError, match="mean ± std"):
        gc.plot_markdown("### MUTAG\n\n| mean | n/a | 3 |\n", "x.png")
    monkeypatch.undo()
    page = tmp_path / "page.md"
    page.write_text(text)
    assert gc.main(["--plot-markdown", str(page), "--plot", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000
    with pytest.raises(SystemExit):
        gc.main(["--plot-markdown", str(page)])
    assert "needs --plot" in capsys.readouterr().err
