"""Small CPU calls run on one Numba thread (config.serial_work); results do not change."""

import numba
import numpy as np

from cnnsim import config
from cnnsim import functional as F
from cnnsim.functional import _dispatch


def test_small_work_runs_on_one_thread_and_restores_count(monkeypatch):
    monkeypatch.setattr(config, "serial_work", 1000)
    seen = []
    k = _dispatch.kernels_for("activations", 10)
    monkeypatch.setattr(k._mod, "relu_forward", lambda x: seen.append(numba.get_num_threads()) or x)
    before = numba.get_num_threads()
    k.relu_forward(np.zeros(3))
    assert seen == [1] and numba.get_num_threads() == before
    assert _dispatch.kernels_for("activations", 10_000) is k._mod  # large: the module itself


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
