"""Small CPU calls run the kernels' serial twins (config.serial_work); results do not change."""

import numba
import numpy as np

from cnnsim import config
from cnnsim import functional as F
from cnnsim.functional import _dispatch


def test_small_work_runs_the_serial_twins_and_leaves_the_thread_count(monkeypatch):
    monkeypatch.setattr(config, "serial_work", 1000)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    kernel = _dispatch.kernels_for("activations").relu_forward  # a ParallelKernel
    seen = []
    for twin in ("serial", "parallel"):
        real = getattr(kernel, twin)
        monkeypatch.setattr(kernel, twin, lambda x, t=twin, f=real: seen.append(t) or f(x))
    before = numba.get_num_threads()
    small = _dispatch.kernels_for("activations", 10)
    small.relu_forward(np.zeros(3))
    _dispatch.kernels_for("activations", 10_000).relu_forward(np.zeros(3))
    expected = "serial" if before == 1 else "parallel"  # a 1-core machine: serial either way
    assert seen == ["serial", expected] and numba.get_num_threads() == before
    assert _dispatch.kernels_for("activations", 10_000) is small._mod  # large: the module


def test_serial_and_parallel_paths_agree(monkeypatch, rng):
    x = rng.standard_normal((4, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    outs = []
    for limit in (0, 10**12):  # never serial, always serial
        monkeypatch.setattr(config, "serial_work", limit)
        y = F.tanh(F.conv2d(x, w))
        outs.append((y, *F.conv2d_backward(np.ones_like(y), x, w), F.avg_pool2d(y, 2)))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
