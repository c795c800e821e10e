import numpy as np
import pytest

from native.device import cuda_available


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not cuda_available():
            item.add_marker(skip_gpu)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def sift5k():
    from graphkit.datasets import load_vectors

    return load_vectors("sift5k")


@pytest.fixture(scope="session")
def mnist10k():
    from graphkit.datasets import load_vectors

    return load_vectors("mnist10k")
