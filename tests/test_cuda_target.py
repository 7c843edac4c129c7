"""Selecting the "cuda" target: errors without a GPU, CNNSIM_TARGET, --target, to_host.

These run in the normal test process (no simulator); the absence of a GPU is simulated by
monkeypatching ``cnnsim.kernels.cuda_available``.
"""

import subprocess
import sys

import click
import numpy as np
import pytest
from click.testing import CliRunner

import cnnsim
from cnnsim import config
from cnnsim import functional as F
from cnnsim.cli.options import target_option

NO_GPU = (
    False,
    "CUDA target: no CUDA GPU or driver found; to run the CUDA kernels without a "
    "GPU set NUMBA_ENABLE_CUDASIM=1 (slow simulator), or use --target cpu",
)


@pytest.fixture
def no_gpu(monkeypatch):
    import cnnsim.kernels

    monkeypatch.setattr(cnnsim.kernels, "cuda_available", lambda: NO_GPU)
    # the twins package checks availability when first imported: make it import afresh
    for name in [m for m in sys.modules if m.startswith("cnnsim.kernels.cuda")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(config, "target", "cpu")


def test_set_target_cuda_without_gpu_is_one_line(no_gpu):
    with pytest.raises(RuntimeError) as e:
        cnnsim.set_target("cuda")
    msg = str(e.value)
    assert "\n" not in msg and "no CUDA GPU" in msg and "NUMBA_ENABLE_CUDASIM=1" in msg
    assert config.target == "cpu"  # unchanged


def test_env_target_cuda_without_gpu_fails_at_first_kernel(no_gpu, monkeypatch):
    # CNNSIM_TARGET=cuda sets config.target at import without checking (that would import
    # numba.cuda on every `import cnnsim`); the first kernel call reports it in one line
    monkeypatch.setattr(config, "target", "cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU or driver found.*NUMBA_ENABLE_CUDASIM=1"):
        F.relu(np.ones(3, np.float32))


def test_real_cuda_available_never_raises():
    ok, why = cnnsim.kernels.cuda_available()
    assert ok or ("\n" not in why and ("NUMBA_ENABLE_CUDASIM" in why or "pip install" in why))


def test_bad_target_names():
    with pytest.raises(ValueError, match="set_target: expected one of"):
        cnnsim.set_target("tpu")
    r = subprocess.run(
        [sys.executable, "-c", "import cnnsim"],
        capture_output=True,
        text=True,
        env={"CNNSIM_TARGET": "tpu", "PATH": ""},
        cwd=str(_root()),
    )
    assert r.returncode != 0
    assert (
        r.stderr.strip().splitlines()[-1].startswith("ValueError: CNNSIM_TARGET: expected one of")
    )


def _root():
    import pathlib

    return pathlib.Path(__file__).resolve().parents[1]


@click.command()
@target_option
def _probe():
    click.echo(f"target={config.target}")


def test_target_option(no_gpu):
    r = CliRunner().invoke(_probe, ["--target", "cuda"])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: CUDA target: no CUDA GPU")
    assert "Traceback" not in r.output
    r = CliRunner().invoke(_probe, ["--target", "cpu"])
    assert r.exit_code == 0 and r.output.strip() == "target=cpu"
    r = CliRunner().invoke(_probe, ["--target", "gpu"])
    assert r.exit_code == 2 and "'gpu' is not one of" in r.output


def test_to_host_passes_host_values_through():
    a = np.arange(3.0)
    assert cnnsim.to_host(a) is a
    out = cnnsim.to_host({"a": a, "b": [a, 1]})
    assert out["a"] is a and out["b"][0] is a and out["b"][1] == 1


def test_step_command_takes_target(no_gpu):
    from cnnsim.cli.main import cli

    r = CliRunner().invoke(cli, ["step", "--help"])
    assert r.exit_code == 0 and "--target [cpu|cuda]" in r.output
    r = CliRunner().invoke(cli, ["step", "lenet5", "--target", "cuda"])
    assert r.exit_code == 1 and r.output.strip().splitlines() == ["Error: " + NO_GPU[1]]
