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
    "cnnsim/arithmetic.py",
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


def test_ci_checks_the_same_list():
    """.ci/run's mypy line names exactly the paths above (one list, not two that drift)."""
    text = (ROOT / ".ci" / "run").read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("mypy "))
    assert line.split()[1:] == TYPED


def test_every_public_layer_method_is_annotated():
    """Each public layer class's ``__init__`` and public methods (those defined in
    cnnsim.layers) annotate every parameter and the return type."""
    import inspect

    from cnnsim import layers

    missing = []
    for cls in vars(layers).values():
        if not (inspect.isclass(cls) and issubclass(cls, layers.Layer)):
            continue
        for k in inspect.getmro(cls):
            if not k.__module__.startswith("cnnsim.layers"):
                continue
            for mname, f in vars(k).items():
                f = getattr(f, "__func__", f)  # classmethods
                if not inspect.isfunction(f) or (mname.startswith("_") and mname != "__init__"):
                    continue
                params = [p for p in inspect.signature(f).parameters if p not in ("self", "cls")]
                ann = f.__annotations__
                if "return" not in ann or any(p not in ann for p in params):
                    missing.append(f"{k.__name__}.{mname}")
    assert not missing, f"not annotated: {sorted(set(missing))}"
