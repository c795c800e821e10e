"""One-line descriptions of every bundled dataset, keyed by the name its loader takes."""

from __future__ import annotations

_CATALOG = {
    "cora": "load_planetoid('cora'): citation graph, 2,708 nodes, 5,278 edges, 1,433-d, 7 classes, public split",
    "citeseer": "load_planetoid('citeseer'): citation graph, 3,327 nodes, 4,552 edges, 3,703-d, 6 classes, public split",
    "pubmed": "load_planetoid('pubmed'): citation graph, 19,717 nodes, 44,324 edges, 500-d, 3 classes "
              "(PARTIAL: only 1,060 feature rows known)",
    "sift5k": "load_vectors('sift5k'): 4,500 x 128 SIFT base, 500 held-out + 3 NGT queries, exact L2 100-NN",
    "mnist10k": "load_vectors('mnist10k'): 9,000 x 784 MNIST base, 1,000 queries, labels, exact L2 100-NN",
    "MUTAG": "load_tu('MUTAG'): 188 molecule graphs, 2 classes, 7 atom types, 4 bond types (edge_attr)",
    "PROTEINS": "load_tu('PROTEINS'): 1,113 protein graphs, 2 classes, 3 node labels + 1 attribute",
    "ENZYMES": "load_tu('ENZYMES'): 600 protein graphs, 6 classes, 3 node labels + 18 attributes",
    "NCI1": "load_tu('NCI1'): 4,110 molecule graphs, 2 classes, 37 atom types",
    "IMDB-BINARY": "load_tu('IMDB-BINARY'): 1,000 ego-networks, 2 classes, no node features",
    "wikipedia": "load_temporal('wikipedia'): JODIE edits, 157,474 events, 8,227 users x 1,000 pages, ban labels",
    "collegemsg": "load_temporal('collegemsg'): UC Irvine messages, 59,835 events, 1,899 users",
    "enron": "load_temporal('enron'): e-mails, 125,235 events, 184 users",
    "bitcoin-otc": "load_temporal('bitcoin-otc'): signed trust ratings, 35,592 events, 5,881 users",
    "bitcoin-alpha": "load_temporal('bitcoin-alpha'): signed trust ratings, 24,186 events, 3,783 users",
    "blogcatalog": "load_blogcatalog(): social graph, 10,312 nodes, 333,983 edges, 39 multi-label groups",
    "USAir": "load_seal('USAir'): air routes, 332 nodes, 2,126 edges (link prediction)",
    "NS": "load_seal('NS'): network-science co-authorship, 1,461 nodes, 2,742 edges (link prediction)",
    "PB": "load_seal('PB'): political blogs, 1,222 nodes, 16,714 edges (link prediction)",
    "Yeast": "load_seal('Yeast'): protein interactions, 2,375 nodes, 11,693 edges (link prediction)",
    "Celegans": "load_seal('Celegans'): C. elegans neural network, 297 nodes, 2,148 edges (link prediction)",
    "Power": "load_seal('Power'): US power grid, 4,941 nodes, 6,594 edges (link prediction)",
    "acm": "load_acm(): heterogeneous ACM, 3,025 papers, PAP/PLP/PMP/PTP meta-paths, 1,870-d, 3 classes",
    "1S3P-A": "load_pdb('1S3P-A'): protein chain, 109 residues, C-alpha contact graph (DeepFRI example)",
    "2J9H-A": "load_pdb('2J9H-A'): protein chain, 209 residues, C-alpha contact graph (DeepFRI example)",
    "2PE5-B": "load_pdb('2PE5-B'): protein chain, 330 residues, C-alpha contact graph (DeepFRI example)",
    "2W83-E": "load_pdb('2W83-E'): protein chain, 165 residues (162 resolved), C-alpha contact graph (DeepFRI example)",
}


def available() -> dict[str, str]:
    """List the bundled datasets.

    Returns:
        dict name -> one line: the loader call, then what the data is and its size.
    """
    return dict(_CATALOG)
