"""TokenGraphPool (GLOT): token-similarity graph vs brute force, dense vs flat input, the
distractor task's construction."""

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from graphkit.pool import TokenGraphPool, token_similarity_graph  # noqa: E402
from graphkit.pool.distractor import NEGATIVE, POSITIVE, distractor_texts  # noqa: E402


def test_similarity_graph_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    lengths = [5, 1, 9, 4]
    base = torch.randn(3, 6, generator=g)
    x = base[torch.randint(0, 3, (sum(lengths),), generator=g)] + 0.3 * torch.randn(sum(lengths), 6, generator=g)
    batch = torch.arange(4).repeat_interleave(torch.tensor(lengths))
    ei = token_similarity_graph(x, batch, 0.7)
    xn = x.numpy() / np.linalg.norm(x.numpy(), axis=1, keepdims=True)
    ref = [(i, j) for i in range(len(x)) for j in range(len(x))
           if i != j and batch[i] == batch[j] and xn[i] @ xn[j] > 0.7]
    assert sorted(map(tuple, ei.t().tolist())) == ref and len(ref) > 10
    with pytest.raises(ValueError, match="sorted"):
        token_similarity_graph(x, batch.flip(0))


def test_dense_input_equals_flat_input():
    g = torch.Generator().manual_seed(1)
    dense = torch.randn(3, 7, 12, generator=g)
    mask = torch.tensor([[1] * 7, [1] * 3 + [0] * 4, [1] * 5 + [0] * 2], dtype=torch.bool)
    torch.manual_seed(0)
    m = TokenGraphPool(12, 8, 4, threshold=0.2, heads=2).eval()
    flat = dense[mask]
    batch = torch.arange(3).repeat_interleave(mask.sum(1))
    torch.testing.assert_close(m(dense, mask=mask), m(flat, batch))
    torch.testing.assert_close(m.last_weights[batch == 1].sum(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="expected 12"):
        m(torch.randn(4, 5))
    with pytest.raises(ValueError, match="jk"):
        TokenGraphPool(4, jk="max")


def test_distractor_texts():
    vocab = [f"w{i}x" for i in range(100)]
    texts, y = distractor_texts(20, 0.9, vocab, seed=0)
    assert len(texts) == 20 and y.sum() == 10
    for t, label in zip(texts, y):
        words = t.split()
        assert len(words) == 40                     # 4 signal words, 36 distractors
        sentiment = [w for w in words if w in POSITIVE + NEGATIVE]
        assert len(sentiment) == 1 and (sentiment[0] in POSITIVE) == bool(label)
