"""GLOT's distractor stress test: a short signal phrase hidden among random distractor words.

Each sequence is a sentiment phrase (``"the film was wonderful"`` / ``"the film was dull"``,
from fixed templates) inserted at a random position into random whole words from the
encoder's own vocabulary (no sentiment words among them), so that ``distractor_ratio`` of
the words are distractors. The label is the phrase's polarity. A frozen encoder's token
states are pooled by :class:`graphkit.pool.TokenGraphPool` or by mean pooling, each
followed by a linear classifier trained on the same data; GLOT's claim is that the
token-graph pooling keeps its accuracy as the distractor ratio grows while mean pooling
collapses (arXiv:2603.03389, the diagnostic stress test).

    python -m graphkit.pool.distractor --ratios 0.5 0.8 0.9 --train 400 --test 200
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphkit.experiments import restores_threads, set_threads

SUBJECTS = ("the film", "the movie", "this show", "the story", "the acting", "the book", "the album", "the meal")
POSITIVE = ("wonderful", "brilliant", "excellent", "delightful", "superb", "fantastic", "enjoyable", "charming",
            "great", "lovely", "amazing", "beautiful")
NEGATIVE = ("terrible", "awful", "boring", "dreadful", "horrible", "dull", "painful", "disappointing",
            "bad", "poor", "awkward", "ugly")


def distractor_texts(n: int, distractor_ratio: float, vocabulary, seed: int = 0, words: int = 40):
    """``n`` texts of ``words`` words of which ``distractor_ratio`` are random distractors,
    and their labels (1 positive phrase, 0 negative). Classes are balanced."""
    if not 0.0 <= distractor_ratio < 1.0:
        raise ValueError(f"distractor_ratio must be in [0, 1), got {distractor_ratio}")
    rng = np.random.default_rng(seed)
    vocabulary = np.asarray(vocabulary)
    texts, labels = [], np.arange(n) % 2
    rng.shuffle(labels)
    for y in labels:
        phrase = f"{rng.choice(SUBJECTS)} was {rng.choice(POSITIVE if y else NEGATIVE)}".split()
        k = max(int(round(len(phrase) * distractor_ratio / (1.0 - distractor_ratio))), 0)
        k = min(k, words) if distractor_ratio > 0 else 0
        noise = list(rng.choice(vocabulary, size=k))
        at = int(rng.integers(0, k + 1))
        texts.append(" ".join(noise[:at] + phrase + noise[at:]))
    return texts, labels.astype(np.int64)


def distractor_vocabulary(tokenizer, size: int = 3000, seed: int = 0) -> list[str]:
    """Random alphabetic whole-word tokens (length >= 3) of the tokenizer's vocabulary,
    excluding the task's sentiment and template words."""
    banned = set(POSITIVE) | set(NEGATIVE) | {w for s in SUBJECTS for w in s.split()} | {"was"}
    words = sorted(w for w in tokenizer.get_vocab() if w.isalpha() and w.isascii() and len(w) >= 3 and w not in banned)
    rng = np.random.default_rng(seed)
    return list(rng.choice(words, size=min(size, len(words)), replace=False))


class _MeanPool(nn.Module):
    def __init__(self, d, c):
        super().__init__()
        self.lin = nn.Linear(d, c)

    def forward(self, x, batch, size):
        from torch_geometric.nn import global_mean_pool

        return self.lin(global_mean_pool(x, batch, size))


class _Glot(nn.Module):
    def __init__(self, d, c, **kw):
        super().__init__()
        from graphkit.pool import TokenGraphPool

        self.pool = TokenGraphPool(d, **kw)
        self.lin = nn.Linear(self.pool.out_channels, c)

    def forward(self, x, batch, size):
        return self.lin(F.relu(self.pool(x, batch, size=size)))


def _select(x, batch, idx):
    """Token states and renumbered batch of the sentences ``idx`` (sorted)."""
    keep = torch.isin(batch, idx)
    remap = torch.full((int(batch.max()) + 1,), -1, dtype=torch.long)
    remap[idx] = torch.arange(idx.numel())
    return x[keep], remap[batch[keep]]


def train_pooling(model, x, batch, y, train_idx, test_idx, epochs: int = 30, lr: float = 1e-3,
                  batch_size: int = 32, seed: int = 0) -> float:
    """Train ``model`` (pool + linear head) on the training sentences; test accuracy."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    y = torch.as_tensor(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = train_idx[torch.randperm(train_idx.numel(), generator=gen)]
        for s in range(0, order.numel(), batch_size):
            idx = torch.sort(order[s:s + batch_size]).values
            xb, bb = _select(x, batch, idx)
            opt.zero_grad()
            F.cross_entropy(model(xb, bb, idx.numel()), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        idx = torch.sort(test_idx).values
        xb, bb = _select(x, batch, idx)
        return float((model(xb, bb, idx.numel()).argmax(1) == y[idx]).float().mean())


def run_diagnostic(ratios=(0.5, 0.9), n_train: int = 400, n_test: int = 200, epochs: int = 30, seed: int = 0,
                   tokenizer=None, model=None, **glot_kw) -> dict:
    """{ratio: {'glot': acc, 'mean': acc}} on frozen all-MiniLM-L6-v2 token states."""
    from graphkit.pool.token_graph import encode_tokens, load_minilm

    if model is None:
        tokenizer, model = load_minilm()
    vocab = distractor_vocabulary(tokenizer, seed=seed)
    out = {}
    for r in ratios:
        texts, y = distractor_texts(n_train + n_test, r, vocab, seed=seed)
        x, batch = encode_tokens(texts, tokenizer, model)
        tr, te = torch.arange(n_train), torch.arange(n_train, n_train + n_test)
        d = x.shape[1]
        out[r] = {
            "glot": train_pooling(_Glot(d, 2, **glot_kw), x, batch, y, tr, te, epochs, seed=seed),
            "mean": train_pooling(_MeanPool(d, 2), x, batch, y, tr, te, epochs, seed=seed),
        }
    return out


@restores_threads
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m graphkit.pool.distractor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.8, 0.9])
    p.add_argument("--train", type=int, default=400)
    p.add_argument("--test", type=int, default=200)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    set_threads(a.threads)
    from graphkit.pool.token_graph import load_minilm

    tok, enc = load_minilm()
    rows = [run_diagnostic(a.ratios, a.train, a.test, a.epochs, s, tok, enc) for s in a.seeds]
    print(f"{'distractors':>11s} {'GLOT acc %':>14s} {'mean-pool acc %':>16s}")
    for r in a.ratios:
        g = [100 * row[r]["glot"] for row in rows]
        m = [100 * row[r]["mean"] for row in rows]
        print(f"{r:11.2f} {np.mean(g):7.1f} +- {np.std(g):4.1f} {np.mean(m):8.1f} +- {np.std(m):4.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
