"""`ann build / query / info / bench` with --kind hnsw and the graph peers."""

import json

import numpy as np

from ann.cli import main
from native.vecio import read_vectors, write_vectors


def test_build_query_info_hnsw(tmp_path, sift5k, capsys):
    base, q, gt = tmp_path / "base.fvecs", tmp_path / "q.fvecs", tmp_path / "gt.ivecs"
    write_vectors(str(base), sift5k["base"])
    write_vectors(str(q), sift5k["query"][:200])
    write_vectors(str(gt), sift5k["groundtruth"][:200].astype(np.int32))
    idx = tmp_path / "h.ann"
    assert main(["build", "--data", str(base), "--kind", "hnsw", "--M", "8", "--ef-construction", "60",
                 "-o", str(idx), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(idx), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "hnsw" and info["M"] == 8 and info["ef_construction"] == 60
    assert info["ntotal"] == 4500 and info["level_counts"][0] == 4500
    out = tmp_path / "r.ivecs"
    recalls = []
    for ef in ("10", "200"):
        assert main(["query", str(idx), "--queries", str(q), "-k", "10", "--ef", ef, "--groundtruth", str(gt),
                     "-o", str(out), "--quiet"]) == 0
        recalls.append(float(capsys.readouterr().out.split("recall@10 = ")[1].split()[0]))
    assert recalls[1] >= 0.98 and recalls[0] < recalls[1]  # --ef reaches the search
    assert read_vectors(str(out)).shape == (200, 10)


def test_bench_sweeps_ef_against_graph_peers(tmp_path, capsys):
    png = tmp_path / "curves.png"
    assert main(["bench", "--dataset", "sift5k", "--kinds", "hnsw,hnswlib-hnsw,faiss-hnsw", "--efs", "16,64",
                 "--M", "8", "--ef-construction", "40", "--repeats", "1", "--threads", "1",
                 "--plot", str(png), "--quiet"]) == 0
    lines = [ln.split() for ln in capsys.readouterr().out.splitlines()]
    rows = {(ln[0], ln[1]): float(ln[4]) for ln in lines if ln and ln[0] in ("hnsw", "hnswlib-hnsw", "faiss-hnsw")}
    assert len(rows) == 6
    for kind in ("hnsw", "hnswlib-hnsw", "faiss-hnsw"):
        assert rows[(kind, "64")] >= rows[(kind, "16")] and rows[(kind, "64")] >= 0.9
    assert png.stat().st_size > 10_000
