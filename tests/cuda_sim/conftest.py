"""CUDA twin tests. They run only when the CUDA target can run in this process:

* under the simulator: ``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda_sim`` (what
  ``tests/test_cuda_sim.py`` does in a subprocess, since the variable must be set before
  numba.cuda is first imported), or
* on a real GPU: ``CNNSIM_CUDA_TESTS=gpu python -m pytest tests/cuda_sim``.

Otherwise (the normal ``pytest tests`` run) these files are not collected at all.
Under the simulator the launch sizes are shrunk (8 threads per block, 4x4 tiles): the
simulator runs every GPU thread as a Python thread, so fewer threads = faster tests; the
kernels' logic is the same for any launch size (a power of two). ``test_real_launch.py``
checks that once at the real sizes (128 threads, 16x16 tiles) on small shapes.
"""

import os

import numpy as np
import pytest

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
GPU = os.environ.get("CNNSIM_CUDA_TESTS") == "gpu"

if not (SIM or GPU):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(autouse=True)
def cuda_target():
    from cnnsim import config

    saved = (config.target, config.threads_per_block, config.tile)
    config.set_target("cuda")
    if SIM:
        config.threads_per_block, config.tile = 8, 4
    yield
    config.target, config.threads_per_block, config.tile = saved


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
