import os
import pathlib

import numpy as np
import pytest

from hypothesis import settings

# A few examples by default; >= 200 per kernel under `pytest -m thorough`.
settings.register_profile("default", max_examples=15, deadline=None)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("CNNSIM_HYPOTHESIS", "default"))

SHARED_MNIST = pathlib.Path(os.environ.get("CNNSIM_TEST_MNIST") or pathlib.Path(__file__).resolve()
                            .parents[1].parent / "shared" / "data" / "mnist")


def pytest_configure(config):
    # `-m thorough` switches hypothesis to the thorough profile
    if "thorough" in (config.getoption("-m") or "") and "not thorough" not in config.getoption("-m"):
        settings.load_profile("thorough")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def mnist_dir():
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found in {SHARED_MNIST} (tests that need it skip)")
    return SHARED_MNIST
