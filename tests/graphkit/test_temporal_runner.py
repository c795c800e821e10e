"""The temporal runner end to end on short prefixes of the bundled streams."""

import json

import numpy as np
import pytest

from graphkit.experiments import environment
from graphkit.experiments import temporal as runner


def _rows(capsys):
    lines = capsys.readouterr().out.strip().splitlines()
    return {tuple(ln.split()[:2]): ln.split() for ln in lines[1:]}


def test_link_runner_per_model_learning_rate(tmp_path, capsys):
    out = tmp_path / "res.json"
    assert runner.main(["--dataset", "collegemsg", "--model", "nat,tgn", "--max-events", "1500", "--epochs", "1",
                        "--seeds", "0", "--dim", "16", "--json", str(out)]) == 0
    rows = _rows(capsys)
    assert float(rows[("collegemsg", "nat")][-1]) == pytest.approx(runner.DEFAULT_LR["nat"])
    assert float(rows[("collegemsg", "tgn")][-1]) == pytest.approx(runner.DEFAULT_LR_OTHERS)
    res = json.loads(out.read_text())
    for key, lr in (("collegemsg/nat/200", runner.DEFAULT_LR["nat"]), ("collegemsg/tgn/200", runner.DEFAULT_LR_OTHERS)):
        (r,) = res["results"][key]
        assert 0.0 <= r["test"]["ap"] <= 1.0 and np.isfinite(r["test"]["auc"])
        assert len(r["epoch_seconds"]) == 1 and r["lr"] == pytest.approx(lr)
    # what the figures depend on besides the code: the command line as given and the environment
    assert res["arguments"]["model"] == "nat,tgn" and res["arguments"]["lr"] is None
    assert res["environment"] == dict(environment(), threads=1)
    # an explicit --lr applies to every model
    assert runner.main(["--dataset", "collegemsg", "--model", "nat", "--max-events", "1500", "--epochs", "1",
                        "--seeds", "0", "--lr", "5e-4"]) == 0
    assert float(_rows(capsys)[("collegemsg", "nat")][-1]) == pytest.approx(5e-4)


def test_runner_rejects_unknown_model():
    with pytest.raises(SystemExit):
        runner.main(["--model", "gcn"])


def test_runner_rejects_an_unknown_dataset(capsys):
    with pytest.raises(SystemExit) as e:  # a usage error before any training, not a traceback
        runner.main(["--dataset", "collegemsg,nope", "--model", "tgn"])
    assert e.value.code == 2 and "unknown temporal dataset 'nope'" in capsys.readouterr().err


def test_linear_lr_scaling_with_the_batch(capsys):
    assert runner.main(["--dataset", "collegemsg", "--model", "tgn", "--max-events", "1200", "--epochs", "1",
                        "--seeds", "0", "--dim", "16", "--batch-size", "100,400", "--lr", "1e-4",
                        "--lr-scale", "linear"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]
    lrs = {int(ln.split()[2]): float(ln.split()[-1]) for ln in lines}
    assert lrs == {100: pytest.approx(5e-5), 400: pytest.approx(2e-4)}


def test_sign_runner_defaults(tmp_path, capsys):
    """The sign task's own learning rate and epochs apply unless given; metrics are in range."""
    out = tmp_path / "sign.json"
    assert runner.main(["--task", "sign", "--dataset", "bitcoin-alpha", "--model", "semba,tgn", "--max-events", "1500",
                        "--seeds", "0", "--dim", "8", "--neighbors", "4", "--json", str(out)]) == 0
    rows = _rows(capsys)
    for m in ("semba", "tgn"):
        assert float(rows[("bitcoin-alpha", m)][-1]) == pytest.approx(runner.SIGN_LR)
        assert float(rows[("bitcoin-alpha", m)][-2]) == runner.SIGN_EPOCHS
        (r,) = json.loads(out.read_text())["results"][f"bitcoin-alpha/{m}/200"]
        assert len(r["epoch_seconds"]) == runner.SIGN_EPOCHS
        assert 0.0 <= r["test"]["neg_f1"] <= 1.0 and 0.0 <= r["test"]["macro_f1"] <= 1.0


def test_sign_runner_reproduces_a_seed(tmp_path, capsys):
    """The same seed gives the same figures twice (torch's default CPU kernels did not: the
    runner now runs in deterministic mode), and the global torch setting is restored."""
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    res = []
    for i in range(2):
        out = tmp_path / f"r{i}.json"
        assert runner.main(["--task", "sign", "--dataset", "bitcoin-alpha", "--model", "semba", "--max-events", "3000",
                            "--seeds", "0", "--epochs", "2", "--dim", "16", "--json", str(out)]) == 0
        res.append(json.loads(out.read_text())["results"]["bitcoin-alpha/semba/200"][0])
    assert res[0]["test"] == res[1]["test"] and res[0]["val"] == res[1]["val"]
    assert torch.are_deterministic_algorithms_enabled() == before


def test_threads_hold_through_numba_kernels_and_are_restored(tmp_path):
    """--threads 1 holds for the whole run. Numba's OpenMP threading layer shares torch's
    OpenMP runtime, and starting its thread pool sets that runtime's thread count to Numba's:
    with torch's count alone set, SEMBA on the whole Bitcoin-OTC stream went on on every core
    and its JSON said so (2 on 2 cores). A fresh process, as a user runs it; in this one
    Numba's pool may have started already. Afterwards, in process, both counts are restored."""
    import subprocess
    import sys

    import numba
    import torch

    out = tmp_path / "otc.json"
    subprocess.run([sys.executable, "-m", "graphkit.experiments.temporal", "--task", "sign", "--dataset", "bitcoin-otc",
                    "--model", "semba", "--seeds", "0", "--epochs", "1", "--dim", "8", "--threads", "1",
                    "--json", str(out)], check=True, capture_output=True)
    assert json.loads(out.read_text())["environment"]["threads"] == 1
    before = torch.get_num_threads(), numba.get_num_threads()
    assert runner.main(["--task", "sign", "--dataset", "bitcoin-alpha", "--model", "semba", "--max-events", "1000",
                        "--seeds", "0", "--epochs", "1", "--dim", "8", "--threads", "1"]) == 0
    assert (torch.get_num_threads(), numba.get_num_threads()) == before
    from graphkit.experiments import set_threads

    with pytest.raises(ValueError, match="threads"):
        set_threads(0)
