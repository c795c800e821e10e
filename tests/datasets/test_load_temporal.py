"""Temporal edge streams: SOURCE.md counts, id mapping and ordering, and load_temporal."""

import gzip

import numpy as np
import pytest

from graphkit.datasets import load_temporal, read_temporal_arrays
from graphkit.datasets._files import DATA_DIR
from graphkit.datasets.temporal import TEMPORAL_DATASETS

# events, nodes, first and last time (None: not stated in SOURCE.md)
COUNTS = {
    "wikipedia": (157474, 9227, 0, 2678373),
    "collegemsg": (59835, 1899, 1082040961, 1098777142),
    "enron": (125235, 184, 0, 113740399),
    "bitcoin-otc": (35592, 5881, None, None),
    "bitcoin-alpha": (24186, 3783, None, None),
}


@pytest.mark.parametrize("name", TEMPORAL_DATASETS)
def test_counts_and_order(name):
    n_events, n_nodes, t_first, t_last = COUNTS[name]
    a = read_temporal_arrays(name)
    src, dst, t = a["src"], a["dst"], a["t"]
    assert src.shape == dst.shape == t.shape == (n_events,)
    assert src.dtype == dst.dtype == np.int64
    assert t.dtype == (np.float64 if name == "bitcoin-otc" else np.int64)
    assert (np.diff(t) >= 0).all()
    assert a["num_nodes"] == n_nodes == len(a["node_ids"])
    assert np.array_equal(np.unique(np.concatenate([src, dst])), np.arange(n_nodes))  # contiguous
    assert a["node_ids"].dtype == np.int64 and (np.diff(a["node_ids"]) > 0).all()
    if t_first is not None:
        assert (t[0], t[-1]) == (t_first, t_last)


def test_wikipedia_bipartite():
    a = read_temporal_arrays("wikipedia")
    assert a["num_users"] == 8227
    assert a["src"].max() < 8227 <= a["dst"].min() and a["dst"].max() == 9226
    assert a["edge_attr"] is None
    assert a["edge_label"].dtype == np.int64 and a["edge_label"].sum() == 217


def test_enron_self_loops_kept_and_ids_shifted():
    a = read_temporal_arrays("enron")
    assert (a["src"] == a["dst"]).sum() == 16410
    assert np.array_equal(a["node_ids"], np.arange(1, 185))


@pytest.mark.parametrize("name, n_negative, max_id", [("bitcoin-otc", 3563, 6005), ("bitcoin-alpha", 1536, 7604)])
def test_bitcoin_against_raw_rows(name, n_negative, max_id):
    """Independent reading of the CSV: map ids back and compare row by row in time order."""
    a = read_temporal_arrays(name)
    fname = {"bitcoin-otc": "bitcoin_otc/soc-sign-bitcoinotc.csv.gz",
             "bitcoin-alpha": "bitcoin_alpha/soc-sign-bitcoinalpha.csv.gz"}[name]
    with gzip.open(DATA_DIR / fname, "rt") as f:
        rows = [line.strip().split(",") for line in f]
    rows.sort(key=lambda r: float(r[3]))  # Python's sort is stable, as the loader's
    raw = np.array([[float(v) for v in r] for r in rows])
    assert np.array_equal(a["node_ids"][a["src"]], raw[:, 0]) and np.array_equal(a["node_ids"][a["dst"]], raw[:, 1])
    assert np.array_equal(a["t"], raw[:, 3])
    assert a["edge_attr"].shape == (len(raw), 1) and a["edge_attr"].dtype == np.float32
    assert np.array_equal(a["edge_attr"][:, 0], raw[:, 2])
    assert np.array_equal(a["edge_label"], np.where(raw[:, 2] > 0, 1, -1))
    assert (a["edge_label"] == -1).sum() == n_negative and a["node_ids"].max() == max_id


def test_bitcoin_alpha_was_unsorted_in_source():
    with gzip.open(DATA_DIR / "bitcoin_alpha/soc-sign-bitcoinalpha.csv.gz", "rt") as f:
        t = np.array([int(line.rsplit(",", 1)[1]) for line in f])
    assert (np.diff(t) < 0).any()


@pytest.mark.parametrize("name", TEMPORAL_DATASETS)
def test_load_temporal(name):
    pytest.importorskip("native.temporal", reason="native.temporal (TemporalGraph) is not available")
    from native import TemporalGraph

    a = read_temporal_arrays(name)
    g = load_temporal(name)
    assert isinstance(g, TemporalGraph) and not g.directed
    assert g.num_nodes == a["num_nodes"] and g.num_events == len(a["src"])
    for key in ("src", "dst", "t", "edge_label"):
        assert np.array_equal(getattr(g, key), a[key]), key
    assert (g.edge_attr is None) == (a["edge_attr"] is None)
    if a["edge_attr"] is not None:
        assert np.array_equal(g.edge_attr, a["edge_attr"])
    assert np.array_equal(g.event_ids, np.arange(len(a["src"])))  # already in time order
    assert load_temporal(name, directed=True).directed


def test_unknown_name():
    with pytest.raises(ValueError, match="wikipedia, collegemsg, enron, bitcoin-otc, bitcoin-alpha"):
        read_temporal_arrays("reddit")
