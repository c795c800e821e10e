"""PRES: the transition model against numpy running moments, the prediction-correction
fusion and the coherence term against hand computations, and the reduction to TGN."""

import numpy as np
import pytest
import torch

from graphkit.datasets import load_temporal
from graphkit.temporal.pres import PRES
from graphkit.temporal.tgn import TGN

torch.set_num_threads(1)
DIMS = dict(memory_dim=12, time_dim=8, embedding_dim=12, num_neighbors=4)


@pytest.fixture(scope="module")
def graph():
    return load_temporal("collegemsg")[:600]


def _pair(g, gamma=0.3):
    # 'batch' store: every pending message is the last batch's, applied for good at the next
    torch.manual_seed(0)
    tgn = TGN(g.num_nodes, message_store="batch", **DIMS)
    torch.manual_seed(0)
    pres = PRES(g.num_nodes, gamma=gamma, message_store="batch", **DIMS)
    pres.load_state_dict({k: v for k, v in tgn.state_dict().items()}, strict=False)
    for m in (tgn, pres):
        m.set_graph(g)
    return tgn, pres


def _observe(m, g, a, b):
    m.observe(g.src[a:b], g.dst[a:b], g.t[a:b], np.arange(a, b))


def test_transition_model_is_running_mean_and_variance():
    m = PRES(5, **DIMS)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(12).astype(np.float32) for _ in range(7)]
    idx = torch.tensor([3])
    for x in xs:
        m.observe_transitions(idx, torch.from_numpy(x)[None])
    X = np.stack(xs)
    np.testing.assert_allclose(m.delta_mean[3].numpy(), X.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.delta_var[3].numpy(), X.var(0), rtol=1e-4, atol=1e-6)
    assert float(m.delta_count[3]) == 7 and float(m.delta_count[0]) == 0


def test_prediction_correction_by_hand(graph):
    tgn, pres = _pair(graph, gamma=0.3)
    pres.train()
    with torch.no_grad():
        # first batch: no transition observed yet (nor from it: states leave zero), so PRES == TGN
        _observe(pres, graph, 0, 100), _observe(tgn, graph, 0, 100)
        torch.testing.assert_close(pres.current_memory()[0], tgn.current_memory()[0])
        for a, b in ((100, 250), (250, 400)):  # the second has nodes with an observed transition
            _observe(pres, graph, a, b), _observe(tgn, graph, a, b)
        prev = pres.memory.clone()
        mean_before, count_before = pres.delta_mean.clone(), pres.delta_count.clone()
        tgn.memory.copy_(prev)
        tgn.last_update.copy_(pres.last_update)
        fused = pres.current_memory()[0]
        comp = tgn.current_memory()[0]
        coherence = pres.extra_loss()
        assert (pres.delta_count == count_before).all()  # measured, not yet observed ...
        pres.flush()  # ... until the messages are applied for good
    src, dst = np.asarray(graph.src[250:400]), np.asarray(graph.dst[250:400])
    counts = {int(v) for v in np.r_[src, dst]}
    assert any(count_before[v] > 0 for v in counts) and any(float(prev[v].norm()) == 0 for v in counts)
    g = 0.3
    for v in counts:
        if count_before[v] > 0:
            pred = (prev[v] + mean_before[v]).clamp(-1, 1)
            ref = g * pred + (1 - g) * comp[v]
        else:
            ref = comp[v]
        torch.testing.assert_close(fused[v], ref, rtol=1e-5, atol=1e-6)
        if float(prev[v].norm()) == 0:  # the first update, out of the zero state, is not observed
            assert pres.delta_count[v] == count_before[v] == 0 and not pres.delta_mean[v].any()
            continue
        torch.testing.assert_close(pres.delta_count[v], count_before[v] + 1)
        # the model measures the GRU's transition, not the fused one
        n = float(count_before[v]) + 1
        torch.testing.assert_close(pres.delta_mean[v], mean_before[v] + (comp[v] - prev[v] - mean_before[v]) / n,
                                   rtol=1e-5, atol=1e-6)
    # the coherence term, by hand, over the nodes with a non-zero previous state
    nodes = sorted(counts)
    live = [v for v in nodes if float(prev[v].norm()) > 0]
    cos = torch.stack([torch.nn.functional.cosine_similarity(fused[v], prev[v], dim=0) for v in live])
    assert coherence is not None
    torch.testing.assert_close(coherence.detach(), 0.1 * (1 - cos).mean())


def test_coherence_term_has_gradient_and_is_off_in_eval(graph):
    _, pres = _pair(graph)
    pres.train()
    with torch.no_grad():
        _observe(pres, graph, 0, 100)
        pres.current_memory()
    _observe(pres, graph, 100, 200)
    loss = pres.extra_loss()
    loss.backward()
    assert pres.gru.weight_hh.grad is not None and pres.gru.weight_hh.grad.abs().sum() > 0
    pres.eval()
    _observe(pres, graph, 200, 300)
    with torch.no_grad():
        assert pres.extra_loss() is None


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="gamma"):
        PRES(10, gamma=1.5)
    with pytest.raises(ValueError, match="coherence_weight"):
        PRES(10, coherence_weight=-1)


def test_node_store_observes_each_transition_once(graph):
    """With message_store='node' a stored message is re-applied every batch until its node's
    next event; the transition model must count it once, when it is applied for good, and only
    out of a live (non-zero) state. Reference: the store replayed with a dict."""
    torch.manual_seed(0)
    pres = PRES(graph.num_nodes, message_store="node", **DIMS).eval()
    pres.set_graph(graph)
    src, dst = np.asarray(graph.src), np.asarray(graph.dst)
    stored, persisted_once = set(), set()
    count = np.zeros(graph.num_nodes)
    B = 50
    with torch.no_grad():
        for a in range(0, 500, B):
            b = a + B
            pres(src[a:b], dst[a:b], graph.t[a:b])
            _observe(pres, graph, a, b)
            for node in set(src[a:b].tolist()) | set(dst[a:b].tolist()):
                if node in stored:
                    count[node] += node in persisted_once
                    persisted_once.add(node)
                stored.add(node)
        np.testing.assert_array_equal(pres.delta_count.numpy(), count)
        assert count.max() >= 2
        # flush applies every stored message for good: each live one counts once more
        pres.flush()
        for node in stored:
            count[node] += node in persisted_once
        np.testing.assert_array_equal(pres.delta_count.numpy(), count)
