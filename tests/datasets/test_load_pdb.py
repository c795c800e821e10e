"""load_pdb: contact graph from PDB coordinates against the distance maps DeepFRI ships."""

import numpy as np
import pytest

from graphkit.datasets import load_pdb
from graphkit.datasets._files import DATA_DIR

# residues (SEQRES), resolved C-alpha atoms, undirected C-alpha contacts < 10 A among resolved
COUNTS = {"1S3P-A": (109, 109, 905), "2J9H-A": (209, 209, 1680), "2PE5-B": (330, 330, 3059),
          "2W83-E": (165, 162, 1431)}


def _fasta():
    seqs, name = {}, None
    for line in (DATA_DIR / "deepfri_pdb_examples" / "pdb_chains.fasta").read_text().split():
        if line.startswith(">"):
            name = line[1:]
            seqs[name] = ""
        else:
            seqs[name] += line
    return seqs


@pytest.fixture(scope="module")
def chains():
    return load_pdb()


def test_threshold_graph_matches_shipped_map(chains):
    assert list(chains) == list(COUNTS)
    fasta = _fasta()
    for name, c in chains.items():
        n, n_resolved, n_contacts = COUNTS[name]
        assert c["num_nodes"] == n == len(c["sequence"]) and c["sequence"] == fasta[name]
        assert c["resolved"].sum() == n_resolved and c["threshold"] == 10.0
        ei = c["edge_index"]
        assert ei.dtype == np.int64 and ei.shape == (2, 2 * n_contacts)
        r = c["resolved"]
        shipped = (c["ca_distances"] < 10.0) & r[:, None] & r[None, :] & ~np.eye(n, dtype=bool)
        ours = np.zeros((n, n), dtype=bool)
        ours[ei[0], ei[1]] = True
        assert (ours == shipped).all(), name
        # coordinates reproduce the shipped C-alpha distances (float32 there)
        x = c["ca_coords"][r]
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        np.testing.assert_allclose(d, c["ca_distances"][np.ix_(r, r)], atol=1e-4)
        assert np.isnan(c["ca_coords"][~r]).all()


def test_unresolved_residues_follow_deepfri_convention(chains):
    c = chains["2W83-E"]
    assert np.flatnonzero(~c["resolved"]).tolist() == [162, 163, 164]
    assert (c["ca_distances"][:162, 162:] == 10000).all()
    assert c["ca_distances"][162, 163] == 1.0 and c["ca_distances"][162, 164] == 10000
    assert (c["edge_index"] < 162).all()


def test_threshold_argument():
    tight, default = load_pdb("1s3p-a", threshold=6.0), load_pdb("1S3P-A")
    small = set(map(tuple, tight["edge_index"].T))
    assert 0 < len(small) < default["edge_index"].shape[1] and small <= set(map(tuple, default["edge_index"].T))
    assert tight["num_nodes"] == 109


def test_unknown_name():
    with pytest.raises(ValueError, match="1S3P-A, 2J9H-A, 2PE5-B, 2W83-E"):
        load_pdb("1ABC-A")
