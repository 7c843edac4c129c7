"""Runs the CUDA twin tests (tests/cuda_sim) under the numba.cuda simulator.

NUMBA_ENABLE_CUDASIM must be set before numba.cuda is first imported, and this pytest
process may already have imported it (or may later need the real driver), so the twin
tests run in a subprocess with the variable set, leaving this process untouched. On a
machine with a GPU run them for real: ``CNNSIM_CUDA_TESTS=gpu python -m pytest tests/cuda_sim``.
"""

import pathlib
import subprocess
import sys

import pytest
from cases import child_env

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _sim_env():
    env = child_env(NUMBA_ENABLE_CUDASIM="1")  # the very cnnsim this process uses (see below)
    env.pop("CNNSIM_TARGET", None)
    env.pop("CNNSIM_CUDA_TESTS", None)
    return env


def test_cuda_twins_match_cpu_kernels_under_the_simulator(tmp_path):
    env = _sim_env()
    probe = subprocess.run(
        [sys.executable, "-c", "from numba import cuda; cuda.to_device([1.0])"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        pytest.skip(f"numba.cuda cannot run even under the simulator here: {last}")
    # Run from a scratch folder with the tests' absolute path, so the subprocess imports the
    # same cnnsim as this process (the installed one in CI, with its warm Numba cache) rather
    # than the checkout's copy, whose cold cache would recompile every CPU kernel (minutes).
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT),
            str(ROOT / "tests" / "cuda_sim"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert " passed" in out and "skipped" not in out.splitlines()[-1], out[-2000:]
