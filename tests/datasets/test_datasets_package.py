"""The package as a whole: light import, catalogue, unknown names, bundled files intact."""

import gzip
import hashlib
import re
import subprocess
import sys

import pytest

import graphkit.datasets as gd
from graphkit.datasets._files import DATA_DIR
from graphkit.datasets.planetoid import PLANETOID
from graphkit.datasets.protein import PDB_CHAINS
from graphkit.datasets.seal import SEAL_DATASETS
from graphkit.datasets.temporal import TEMPORAL_DATASETS
from graphkit.datasets.tu import TU_DATASETS
from graphkit.datasets.vectors import VECTOR_SETS


def test_import_and_numpy_loaders_stay_light():
    code = (
        "import sys, warnings; warnings.simplefilter('ignore')\n"
        "import graphkit.datasets as d\n"
        "assert 'scipy' not in sys.modules and 'torch' not in sys.modules, 'import is not light'\n"
        "d.load_planetoid('cora'); d.load_vectors('sift5k'); d.load_seal('USAir'); d.load_blogcatalog()\n"
        "d.load_pdb('1S3P-A'); d.read_temporal_arrays('enron'); d.available()\n"
        "heavy = [m for m in ('torch', 'torch_geometric', 'numba', 'native') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_available_lists_every_loadable_name():
    catalog = gd.available()
    names = (*PLANETOID, *VECTOR_SETS, *TU_DATASETS, *TEMPORAL_DATASETS, "blogcatalog",
             *SEAL_DATASETS, "acm", *PDB_CHAINS)
    assert sorted(catalog) == sorted(names)
    for name, line in catalog.items():
        call = re.match(r"(load_\w+)\((?:'([^']*)')?\): \S", line)
        assert call and hasattr(gd, call.group(1)), line
        assert call.group(2) in (name, None), line


@pytest.mark.parametrize("loader, known", [
    ("load_planetoid", PLANETOID), ("load_vectors", VECTOR_SETS), ("load_tu", TU_DATASETS),
    ("load_temporal", TEMPORAL_DATASETS), ("load_seal", SEAL_DATASETS), ("load_pdb", PDB_CHAINS),
])
def test_unknown_name_lists_known_ones(loader, known):
    with pytest.raises(ValueError) as err:
        getattr(gd, loader)("no-such-dataset")
    assert "'no-such-dataset'" in str(err.value) and ", ".join(known) in str(err.value)


def test_every_folder_has_source_and_gz_files_match_derived_md():
    folders = [p for p in DATA_DIR.iterdir() if p.is_dir()]
    assert len(folders) == 19
    for folder in folders:
        assert (folder / "SOURCE.md").is_file(), folder
        derived = (folder / "DERIVED.md").read_text() if (folder / "DERIVED.md").is_file() else ""
        listed = dict(re.findall(r"\| `([^`]+\.gz)` \| `[^`]+` \| `([0-9a-f]{64})` \|", derived))
        # every gzip file we made is listed (mnist and bitcoin .gz files are the source's own)
        made = {p.relative_to(folder).as_posix() for p in folder.rglob("*.gz")}
        if folder.name not in ("mnist_test", "bitcoin_otc", "bitcoin_alpha"):
            assert made == set(listed), folder
        for name, digest in listed.items():
            with gzip.open(folder / name, "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == digest, name


def test_bundle_stays_small():
    size = sum(p.stat().st_size for p in DATA_DIR.rglob("*") if p.is_file())
    assert size < 25e6, f"bundled data is {size / 1e6:.1f} MB"
