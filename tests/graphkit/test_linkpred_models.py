"""NCN / NCNC / encoders / metrics / splits of graphkit.linkpred against dense references."""

import numpy as np
import pytest
import torch

from graphkit.datasets import load_planetoid
from graphkit.linkpred import (GAE, GCN, NCN, NCNC, auc, evaluate_split, fit, gcn_adjacency, hits_at_k,
                               link_graph, mrr, random_link_split)
from graphkit.linkpred.splits import to_undirected


@pytest.fixture(scope="module")
def cora():
    d = load_planetoid("cora")
    return torch.from_numpy(d.x), torch.from_numpy(d.edge_index), d.num_nodes


def _dense(ei, n):
    A = torch.zeros(n, n, dtype=torch.float64)
    A[ei[0], ei[1]] = 1.0
    A.fill_diagonal_(0)
    return A


def test_gcn_encoder_matches_pyg(cora):
    from torch_geometric.nn import GCNConv

    x, ei, n = cora
    x = x[:, :64].contiguous()
    torch.manual_seed(0)
    ours = GCN(x.shape[1], 16, num_layers=1, dropout=0.0, input_dropout=0.0, jk=False).eval()
    with torch.no_grad():
        ours.lin.bias.zero_()
    ref = GCNConv(x.shape[1], 16, bias=False)
    with torch.no_grad():
        ref.lin.weight.copy_(ours.lin.weight)
    torch.testing.assert_close(ours(x, ei), ref(x, ei), rtol=1e-4, atol=1e-5)
    # sparse features give the same result as dense ones
    torch.testing.assert_close(ours(x.to_sparse(), ei), ours(x, ei), rtol=1e-4, atol=1e-5)
    A = gcn_adjacency(ei, n).to_dense()
    torch.testing.assert_close(A, A.T)


def test_ncn_common_neighbour_sum_matches_dense(cora):
    x, ei, n = cora
    torch.manual_seed(0)
    model = NCN(x.shape[1], 32, input_dropout=0.0).eval()
    pairs = torch.cat([ei[:, :200], torch.randint(0, n, (2, 200))], dim=1)
    with torch.no_grad():
        h = model.encode(x, ei)
        A = _dense(ei, n)
        cn_sum = ((A[pairs[0]] * A[pairs[1]]) @ h.double()).float()
        want = model._logits(h, cn_sum, pairs)
        torch.testing.assert_close(model.score(h, link_graph(ei, n), pairs), want, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model(x, ei, pairs), want, rtol=1e-4, atol=1e-5)


def test_ncnc_completion_matches_dense(cora):
    x, ei, n = cora
    torch.manual_seed(0)
    model = NCNC(x.shape[1], 32, input_dropout=0.0, alpha=0.8, pt=0.6, scale=2.0, offset=0.5,
                 eval_max_completion=-1).eval()
    pairs = torch.cat([ei[:, :60], torch.randint(0, n, (2, 60))], dim=1)
    g = link_graph(ei, n)
    A = _dense(ei, n)
    with torch.no_grad():
        h = model.encode(x, ei)
        xcn = (A[pairs[0]] * A[pairs[1]]) @ h.double()
        rows, ws, others = [], [], []
        for b, (u, v) in enumerate(pairs.T.tolist()):
            nu, nv = set(A[u].nonzero().flatten().tolist()), set(A[v].nonzero().flatten().tolist())
            for w, other in [(w, v) for w in sorted(nu - nv - {v})] + [(w, u) for w in sorted(nv - nu - {u})]:
                rows.append(b), ws.append(w), others.append(other)
        logits = NCN.score(model, h, g, torch.tensor([ws, others]))  # p(w, other) by NCN, one batch
        prob = model.completion_probability(logits).double()
        for b, w, p in zip(rows, ws, prob.tolist()):
            xcn[b] += p * h[w].double()
        want = model._logits(h, xcn.float(), pairs)
        torch.testing.assert_close(model.score(h, g, pairs), want, rtol=1e-4, atol=1e-5)
        # depth 0 is NCN
        torch.testing.assert_close(model.score(h, g, pairs, depth=0), NCN.score(model, h, g, pairs))


@pytest.mark.parametrize("options", [{}, {"xlin": True, "scorer_layers": 2, "predictor_dropout": 0.3}])
def test_ncnc_from_ncn_copies_weights(cora, options):
    x, ei, n = cora
    ncn = NCN(x.shape[1], 16, **options).eval()
    ncnc = NCNC.from_ncn(ncn, scale=3.0).eval()
    pairs = ei[:, :10]
    h = ncn.encode(x, ei)
    torch.testing.assert_close(ncnc.score(h, ei, pairs, depth=0), ncn.score(h, ei, pairs))
    assert ncnc.scale == 3.0 and ncnc.predictor_dropout == ncn.predictor_dropout


def test_ncn_xlin_sums_residual_features(cora):
    """xlin (the reference's use_xlin): the common neighbours contribute h + MLP(h), the pair h_i * h_j."""
    x, ei, n = cora
    torch.manual_seed(0)
    model = NCN(x.shape[1], 16, input_dropout=0.0, xlin=True, scorer_layers=2).eval()
    pairs = torch.cat([ei[:, :40], torch.randint(0, n, (2, 40))], dim=1)
    with torch.no_grad():
        h = model.encode(x, ei)
        A = _dense(ei, n)
        cn_sum = ((A[pairs[0]] * A[pairs[1]]) @ (h + model.xlin(h)).double()).float()
        torch.testing.assert_close(model.score(h, ei, pairs), model._logits(h, cn_sum, pairs), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="scorer_layers"):
        NCN(x.shape[1], 8, scorer_layers=0)


def test_split_keeps_held_out_links_out(cora):
    x, ei, n = cora
    split = random_link_split(ei, n, seed=1)
    train = set(map(tuple, split["train_pos"].T.tolist()))
    assert not train & set(map(tuple, split["test_pos"].T.tolist()))
    assert not train & set(map(tuple, split["val_pos"].T.tolist()))
    all_edges = set(map(tuple, ei.T.tolist()))
    assert not all_edges & set(map(tuple, split["test_neg"].T.tolist()))
    assert split["test_pos"].shape[1] == int(0.1 * (ei.shape[1] // 2))
    assert split["test_neg"].shape == split["test_pos"].shape
    assert bool((split["test_neg"][0] < split["test_neg"][1]).all())


def test_split_ncn_reference_protocol(cora):
    """70/10/20 with twice as many validation negatives as positives (the NCN code's split)."""
    x, ei, n = cora
    m = ei.shape[1] // 2
    split = random_link_split(ei, n, val_ratio=0.1, test_ratio=0.2, seed=3, val_neg_ratio=2.0)
    n_val = int(0.1 * m)
    assert split["val_pos"].shape[1] == n_val and split["val_neg"].shape[1] == 2 * n_val
    assert split["test_neg"].shape == split["test_pos"].shape == (2, int(0.2 * m))
    assert split["train_pos"].shape[1] == m - n_val - int(0.2 * m)
    negs = set(map(tuple, torch.cat([split["val_neg"], split["test_neg"]], 1).T.tolist()))
    assert len(negs) == 2 * n_val + int(0.2 * m) and not negs & set(map(tuple, ei.T.tolist()))
    with pytest.raises(ValueError, match="val_neg_ratio"):
        random_link_split(ei, n, val_neg_ratio=0.0)


def test_tail_dropout_only_in_training(cora):
    x, ei, n = cora
    torch.manual_seed(0)
    m = NCN(x.shape[1], 16, input_dropout=0.0, dropout=0.0, tail_dropout=0.5)
    assert NCNC.from_ncn(m).encoder.tail_dropout == 0.5
    m.eval()
    torch.testing.assert_close(m.encode(x, ei), m.encode(x, ei))
    m.train()
    assert 0.4 < float((m.encode(x, ei) == 0).float().mean()) < 0.6


def test_tiny_training_beats_chance():
    """A few epochs on the SEAL USAir graph (332 nodes, identity features) beat chance clearly."""
    from graphkit.experiments.link_prediction import load

    x, ei, n = load("USAir")
    split = random_link_split(ei, n, seed=0)
    torch.manual_seed(0)
    for model in (NCNC(n, 32, input_dropout=0.0, cn_edge_dropout=0.2), GAE(n, 32, kind="sage")):
        res = fit(model, x, split, epochs=3, batch_size=512, lr=0.01, eval_every=3, seed=0, select_by="auc")
        assert res["test"]["auc"] > 0.75, res["test"]
        assert set(res["test"]) == {"hits@20", "hits@50", "hits@100", "mrr", "auc"}
        assert evaluate_split(model, x, split, parts=("test",))["test"]["auc"] > 0.75


def test_metrics_against_brute_force():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 50, 300).astype(float), rng.integers(0, 50, 400).astype(float)
    want_auc = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert auc(pos, neg) == pytest.approx(want_auc, abs=1e-12)
    want_mrr = np.mean([1 / (1 + np.sum(neg >= p)) for p in pos])
    assert mrr(pos, neg) == pytest.approx(want_mrr, abs=1e-12)
    for k in (1, 20, 100):
        kth = np.sort(neg)[::-1][k - 1]
        assert hits_at_k(torch.tensor(pos), torch.tensor(neg), k) == pytest.approx(np.mean(pos > kth))
    with pytest.raises(ValueError, match="k must"):
        hits_at_k(pos, neg, 0)


def test_model_input_validation(cora):
    x, ei, n = cora
    with pytest.raises(ValueError, match="hidden_channels"):
        NCN(x.shape[1], 0)
    with pytest.raises(ValueError, match="input_dropout"):
        NCN(x.shape[1], 8, input_dropout=1.5)
    with pytest.raises(ValueError, match="pt"):
        NCNC(x.shape[1], 8, pt=1.0)
    m = NCN(x.shape[1], 8)
    with pytest.raises(ValueError, match="x must have shape"):
        m.encode(x[:, :5], ei)
    with pytest.raises(ValueError, match="pairs"):
        m.score(torch.zeros(n, 8), ei, torch.tensor([[0], [n]]))
    with pytest.raises(ValueError, match="val_ratio"):
        random_link_split(ei, n, val_ratio=0.6, test_ratio=0.5)
    with pytest.raises(ValueError, match="decoder"):
        GAE(x.shape[1], 8, decoder="bilinear")


def test_runner_prints_a_table(capsys, tmp_path):
    from graphkit.experiments.link_prediction import main

    out = tmp_path / "r.json"
    assert main(["--dataset", "USAir", "--model", "cn,ra", "--seeds", "0", "1", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:2] == ["dataset", "model"] and len(lines) == 3
    assert lines[2].split()[:2] == ["USAir", "ra"]
    import json

    from graphkit.experiments import environment

    res = json.loads(out.read_text())
    assert res["arguments"]["seeds"] == [0, 1] and res["environment"] == dict(environment(), threads=1)
    rows = res["results"]
    assert len(rows["USAir/cn"]) == 2 and 0.8 < rows["USAir/ra"][0]["test"]["auc"] <= 1.0


def test_runner_rejects_an_unknown_dataset(capsys):
    from graphkit.experiments.link_prediction import main

    with pytest.raises(SystemExit) as e:
        main(["--dataset", "USAir,nope", "--model", "cn"])
    assert e.value.code == 2 and "got 'nope'" in capsys.readouterr().err
