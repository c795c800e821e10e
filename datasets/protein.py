"""Residue contact graphs of the DeepFRI example protein chains (PDB structures + distance maps)."""

from __future__ import annotations

import numpy as np

from ._files import check_name, data_path, open_text, require

PDB_CHAINS = ("1S3P-A", "2J9H-A", "2PE5-B", "2W83-E")
_FOLDER = "deepfri_pdb_examples"
_ONE_LETTER = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E",
    "GLY": "G", "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F",
    "PRO": "P", "SER": "S", "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V",
}


def _read_ca_atoms(path) -> tuple[np.ndarray, np.ndarray, str]:
    """C-alpha atoms of a one-chain PDB file: residue numbers, coordinates, one-letter residues."""
    numbers, coords, letters = [], [], []
    with open_text(path) as f:
        for line in f:
            # first alternate location only; insertion codes would break the numbering
            if line.startswith("ATOM") and line[12:16] == " CA " and line[16] in " A":
                if line[26] != " ":
                    raise ValueError(f"{path}: insertion code in {line.rstrip()!r} is not supported")
                numbers.append(int(line[22:26]))
                coords.append((float(line[30:38]), float(line[38:46]), float(line[46:54])))
                letters.append(_ONE_LETTER.get(line[17:20], "X"))
    return np.array(numbers, dtype=np.int64), np.array(coords, dtype=np.float64), "".join(letters)


def _align(numbers: np.ndarray, letters: str, sequence: str, path) -> np.ndarray:
    """Positions in ``sequence`` of the resolved residues, from their residue numbering."""
    rel = numbers - numbers[0]
    seq = np.frombuffer(sequence.encode(), dtype=np.uint8)
    res = np.frombuffer(letters.encode(), dtype=np.uint8)
    if (np.diff(rel) > 0).all():
        for offset in range(len(sequence) - int(rel[-1])):
            if (seq[offset + rel] == res).all():
                return offset + rel
    raise ValueError(f"{path}: resolved residues do not match the SEQRES sequence {sequence!r}")


def _load_chain(name: str, threshold: float) -> dict:
    with np.load(require(data_path(_FOLDER, f"pdb_cmaps/{name}.npz")), allow_pickle=False) as z:
        sequence, ca_distances, cb_distances = str(z["seqres"]), z["C_alpha"], z["C_beta"]
    path = data_path(_FOLDER, f"pdb_files/{name}.pdb.gz")
    numbers, coords, letters = _read_ca_atoms(path)
    position = _align(numbers, letters, sequence, path)

    num_nodes = len(sequence)
    ca = np.full((num_nodes, 3), np.nan)
    ca[position] = coords
    dist = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(axis=-1))
    i, j = np.nonzero((dist < threshold) & ~np.eye(len(coords), dtype=bool))
    resolved = np.zeros(num_nodes, dtype=bool)
    resolved[position] = True
    return {
        "name": name,
        "sequence": sequence,
        "ca_coords": ca,
        "resolved": resolved,
        "edge_index": np.stack([position[i], position[j]]),
        "threshold": threshold,
        "ca_distances": ca_distances,
        "cb_distances": cb_distances,
        "num_nodes": num_nodes,
    }


def load_pdb(name: str | None = None, threshold: float = 10.0):
    """Load a DeepFRI example chain as a residue contact graph built from its PDB coordinates.

    Nodes are the SEQRES residues (DeepFRI's convention). Residues resolved in the PDB file get
    their C-alpha coordinates (ATOM records, first alternate location); two resolved residues
    are in contact when their C-alpha distance is below ``threshold`` Å (10 Å, as DeepFRI).
    Unresolved residues (2W83-E: the last 3) have NaN coordinates and no edges. The distance
    maps DeepFRI ships in the ``.npz`` are returned as they are; there DeepFRI puts unresolved
    residues 10,000 Å from everything except themselves and their sequence neighbours (1.0).

    Args:
        name: ``'1S3P-A'``, ``'2J9H-A'``, ``'2PE5-B'`` or ``'2W83-E'`` (case-insensitive);
            None loads all four.
        threshold: contact distance in Å (strict ``<``).

    Returns:
        For one chain a dict with ``name``, ``sequence`` (str, length L), ``ca_coords`` float64
        (L, 3), ``resolved`` bool (L,), ``edge_index`` int64 (2, E) (both directions, no
        self-loops), ``threshold``, ``ca_distances`` / ``cb_distances`` float64 (L, L) (the
        shipped C-alpha / C-beta maps) and ``num_nodes`` L; for None a dict name -> that dict.
        L: 1S3P-A 109, 2J9H-A 209, 2PE5-B 330, 2W83-E 165 (162 resolved).

    Raises:
        ValueError: unknown name (the message lists the known ones).

    Data: V. Gligorijević et al., *Structure-based protein function prediction using graph
    convolutional networks*, Nature Communications 12, 3168 (2021) (flatironinstitute/DeepFRI
    examples; structures from the RCSB Protein Data Bank).
    """
    if name is None:
        return {chain: _load_chain(chain, threshold) for chain in PDB_CHAINS}
    return _load_chain(check_name(name, PDB_CHAINS, "PDB chain"), threshold)
