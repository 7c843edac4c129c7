"""The public API's type hints hold: mypy over the typed packages (settings in pyproject.toml).

The same command runs in .ci/run; here it guards a local ``pytest`` too.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TYPED = [
    "cnnsim/typing.py",
    "cnnsim/functional",
    "cnnsim/geometry.py",
    "cnnsim/layers",
    "cnnsim/engine",
    "cnnsim/models",
    "cnnsim/testing",
]


def test_public_packages_type_check():
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.skip("mypy is not installed (pip install mypy, or the 'dev' extra)")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", *TYPED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"mypy found type errors:\n{proc.stdout}{proc.stderr}"
