"""The first run compiles only what it uses (issue 16, item 3; docs/performance.md, "The
first run"): the convolution's path is chosen in Python, so a call compiles only its own
path's kernels, and a call small enough for one thread compiles only the serial twins."""

import json
import subprocess
import sys

import numba
import numpy as np
from numba import prange

from cnnsim.kernels._twins import ParallelKernel, parallel_kernel

# run in a fresh process: this one has called every path already
PROBE = r"""
import json
import numpy as np
from cnnsim import functional as F
from cnnsim.kernels.conv import blocked, direct, layouts, regtile_tiles
from cnnsim.kernels._twins import ParallelKernel

rng = np.random.default_rng(0)
x = rng.standard_normal((1, 1, 32, 32)).astype(np.float32)
F.conv2d(x, rng.standard_normal((6, 1, 5, 5)).astype(np.float32))  # LeNet-5's C1
compiled = {}
for mod in (blocked, direct, layouts, regtile_tiles):
    for name, v in vars(mod).items():
        for kind, d in (("parallel", v.parallel), ("serial", v.serial)) if isinstance(
            v, ParallelKernel
        ) else (("", v),):
            if hasattr(d, "signatures") and d.signatures:
                compiled[f"{mod.__name__.rsplit('.', 1)[1]}.{name}{'.' * bool(kind)}{kind}"] = 1
print(json.dumps(sorted(compiled)))
"""


def test_a_batch_1_convolution_compiles_its_own_path_only():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=600
    )
    compiled = set(json.loads(out.stdout.strip().splitlines()[-1]))
    # phase planes with the 3-map loop (a call this small does not take the register
    # tiles, blocked.TILE_MIN_WORK, on any CPU), on one thread (a small call): serial
    # twins only
    assert {
        "layouts.to_phase_planes.serial",
        "blocked._plane_conv_3x4.serial",
        "layouts.crop_rows.serial",
    } <= compiled
    assert not [k for k in compiled if k.endswith(".parallel")], compiled
    # nothing of the batch lanes, the 5-map block, the register tiles, the full window,
    # the plain loops or the backward passes
    for absent in (
        "to_lanes",
        "lanes_to_rows",
        "rows_to_lanes",
        "_plane_conv_5x3",
        "regtile_tiles.",
        "full_window_forward",
        "lanes_input_grad",
        "blocked_weight_grad",
        "flat_rows",
        "scatter_phases",
        "direct.forward",
        "direct.backward_input",
    ):
        assert not [k for k in compiled if absent in k], (absent, compiled)


@parallel_kernel()
def _square(x):
    y = np.empty_like(x)
    for i in prange(x.size):
        y[i] = x[i] * x[i]
    return y


def test_serial_twin_runs_at_one_thread_with_the_same_bits():
    assert isinstance(_square, ParallelKernel) and _square.__name__ == "_square"
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _square(x)
        assert _square.serial.signatures and not _square.parallel.signatures
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = _square(x)
        if numba.config.NUMBA_NUM_THREADS > 1:
            assert _square.parallel.signatures
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(one, x * x)
