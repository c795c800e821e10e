"""The ann command end to end on bundled data."""

import numpy as np
import pytest

from ann.cli import main
from native.vecio import read_vectors, write_vectors


@pytest.fixture
def files(tmp_path, sift5k):
    base, q = tmp_path / "base.fvecs", tmp_path / "q.fvecs"
    write_vectors(str(base), sift5k["base"])
    write_vectors(str(q), sift5k["query"][:100])
    gt = tmp_path / "gt.ivecs"
    write_vectors(str(gt), sift5k["groundtruth"][:100].astype(np.int32))
    return tmp_path, base, q, gt


def test_build_query_info(files, capsys):
    d, base, q, gt = files
    idx = d / "b.ann"
    assert main(["build", "--data", str(base), "-o", str(idx), "--quiet"]) == 0
    out = d / "r.ivecs"
    assert main(["query", str(idx), "--queries", str(q), "-k", "10", "--groundtruth", str(gt),
                 "-o", str(out), "--distances", str(d / "r.fvecs"), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "recall@10 = 1.0000" in text
    I = read_vectors(str(out))
    assert I.shape == (100, 10) and (I == np.asarray(read_vectors(str(gt)))[:, :10]).mean() > 0.999
    assert main(["info", str(idx), "--json"]) == 0
    assert '"ntotal": 4500' in capsys.readouterr().out


def test_bench_with_peers_and_plot(tmp_path, capsys):
    png = tmp_path / "c.png"
    assert main(["bench", "--dataset", "sift5k", "--kinds", "flat,faiss,hnswlib", "--repeats", "1",
                 "--plot", str(png), "--quiet"]) == 0
    text = capsys.readouterr().out
    for name in ("flat", "faiss", "hnswlib"):
        line = next(line for line in text.splitlines() if line.startswith(name))
        assert float(line.split()[3]) > 0.999  # recall of every exact method
    assert png.stat().st_size > 1000


def test_errors_are_messages_not_tracebacks(files, tmp_path):
    d, base, q, gt = files
    bad = tmp_path / "bad.ann"
    bad.write_bytes(b"GKITFILE" + b"\0" * 40)
    with pytest.raises(SystemExit, match="ann: "):
        main(["info", str(bad)])
    with pytest.raises(SystemExit, match="unknown --kind"):
        main(["build", "--data", str(base), "--kind", "nope", "-o", str(d / "x.ann")])
    with pytest.raises(SystemExit, match="bench_tenants.py"):
        main(["bench", "--dataset", "sift5k", "--kinds", "flat,tenant"])
    with pytest.raises(SystemExit, match="unknown vector dataset 'siftsmall'; known: sift5k"):
        main(["bench", "--dataset", "siftsmall"])
    with pytest.raises(SystemExit, match="cannot read"):
        main(["build", "--data", str(d / "missing.fvecs"), "-o", str(d / "x.ann")])
    idx = d / "b.ann"
    main(["build", "--data", str(base), "-o", str(idx), "--quiet"])
    small = tmp_path / "small.fvecs"
    write_vectors(str(small), np.ones((2, 3), np.float32))
    with pytest.raises(SystemExit, match="dimension 3, index has 128"):
        main(["query", str(idx), "--queries", str(small)])
    with pytest.raises(SystemExit):
        main(["build", "--help"])
