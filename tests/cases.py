"""Test inputs shared by several test files (imported as ``from cases import ...``):
hypothesis strategies for the window arithmetic, tiny learnable data for training, and
the environment of a child Python process."""

import os
import pathlib

import numpy as np
from hypothesis import strategies as st

#: every way a padding can be written: valid / same, P, (PH, PW), (T, B, L, R)
padding_st = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 2),
    st.tuples(st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
)


def tiny_data(n=24, seed=0):
    """``x (n, 1, 6, 6)`` float32, ``y (n,)`` in 0..2: the class is which row is bright,
    so a tiny net can learn it in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 1, 6, 6)).astype(np.float32) * 0.1
    x[np.arange(n), 0, y * 2, :] += 1.0  # class = which row is bright: learnable
    return x, y


def same_bits_at_every_thread_count(run):
    """Call ``run()`` (returning a tuple of arrays) with Numba at 1, 2 and its current
    number of threads, and assert each array is the same, bit for bit, every time (the
    determinism contract). Restores the thread count."""
    import numba

    before = numba.get_num_threads()
    outs = []
    try:
        for t in sorted({1, 2, before}):
            numba.set_num_threads(t)
            outs.append(run())
    finally:
        numba.set_num_threads(before)
    for out in outs[1:]:
        for a, c in zip(outs[0], out):
            np.testing.assert_array_equal(a, c)


def without_dac_override():
    """Command prefix under which a child process respects folder permissions: nothing for
    an ordinary user; for root (who ignores them through CAP_DAC_OVERRIDE) ``setpriv``
    dropping that capability, so that root still reads its own private checkout (a clone
    in ``mktemp -d`` is mode 0700, which another user could not even import from). Skips
    the calling test, saying why, where that is not possible here."""
    import os
    import shutil
    import subprocess
    import sys

    import pytest

    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root and setpriv (util-linux) is absent")
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import cnnsim"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE here: {why}")
    return prefix


def child_env(**extra):
    """``os.environ`` plus ``extra`` for a child Python process that imports the very
    cnnsim this process imported: in CI the installed package, whose Numba cache the
    tests in this process have warmed. The checkout's own copy has a cache of its own,
    and a child that imported it compiled its kernels again (training LeNet-5 in a child:
    52 s of CPU cold, 3 s warm). ``PYTHONSAFEPATH`` keeps ``python -c`` and ``-m`` from
    putting the working folder, the checkout, first on ``sys.path`` (Python 3.11+; older
    ones import the checkout, which is only slower)."""
    import cnnsim

    here = str(pathlib.Path(cnnsim.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, PYTHONSAFEPATH="1", **extra)
