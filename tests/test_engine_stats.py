"""A trace's statistics (cnnsim.engine.stats) against plain NumPy in float64."""

import math

import numpy as np
import pytest

from cnnsim.engine.stats import LANES, SATURATION, array_stats, grad_stats

# sizes around the lane count and the chunk size, where the kernel's tail handling is
SIZES = [1, LANES - 1, LANES, LANES + 1, 3 * LANES + 5, 16384, 16385, 40000]


def _reference(a, activation):
    v = np.asarray(a, dtype=np.float64).ravel()
    lo, hi = SATURATION.get(activation, (-math.inf, math.inf))
    return {
        "min": v.min(),
        "mean": v.mean(),
        "max": v.max(),
        "zeros": np.mean(v == 0),
        "saturated": float(np.mean((v <= lo) | (v >= hi))) if activation in SATURATION else None,
    }


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "scaled_tanh", "softmax", "relu"])
def test_array_stats_match_numpy(n, dtype, activation, rng):
    a = (rng.standard_normal(n) * 1.5).astype(dtype)
    a[::5] = 0
    if activation in ("sigmoid", "softmax"):
        a = np.abs(a) / (1 + np.abs(a))
    got, want = array_stats(a, activation), _reference(a, activation)
    assert got["min"] == want["min"] and got["max"] == want["max"]
    assert got["mean"] == pytest.approx(want["mean"], rel=1e-12, abs=1e-15)
    assert got["zeros"] == want["zeros"] and got["saturated"] == want["saturated"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturation_thresholds_count_the_boundary_as_float64_would(dtype):
    """The kernel compares in the array's precision; a value just either side of 0.99 (or
    exactly the float nearest it) must count as it does when compared in float64."""
    t = np.dtype(dtype).type
    edge = []
    for b in (0.99, -0.99, 0.01, 0.99 * 1.7159, -0.99 * 1.7159):
        x = t(b)
        edge += [np.nextafter(x, t(-np.inf)), x, np.nextafter(x, t(np.inf))]
    a = np.array(edge * 3, dtype=dtype)  # 45 values: lanes and a tail
    for act in ("tanh", "sigmoid", "scaled_tanh"):
        assert array_stats(a, act)["saturated"] == _reference(a, act)["saturated"], act


def test_nan_is_never_a_minimum_or_maximum_and_makes_the_mean_nan():
    a = np.array([1.0, np.nan] + [0.5] * 20 + [-2.0], dtype=np.float32)
    s = array_stats(a, "tanh")
    assert s["min"] == -2.0 and s["max"] == 1.0 and math.isnan(s["mean"])
    g = grad_stats(a)
    assert g["max_abs"] == 2.0 and math.isnan(g["norm"])


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_stats_match_numpy(n, dtype, rng):
    g = rng.standard_normal(n).astype(dtype)
    g[1::4] = 0
    v = g.astype(np.float64)
    s = grad_stats(g)
    assert s["norm"] == pytest.approx(np.sqrt(np.sum(v * v)), rel=1e-12)
    assert s["mean_abs"] == pytest.approx(np.mean(np.abs(v)), rel=1e-12)
    assert s["max_abs"] == np.abs(v).max() and s["zeros"] == np.mean(v == 0)


def test_same_numbers_every_time_and_for_any_memory_layout(rng):
    a = rng.standard_normal((3, 4, 50, 70)).astype(np.float32)
    s = array_stats(a, "tanh")
    assert array_stats(np.asfortranarray(a), "tanh") == s
    assert array_stats(a.copy(), "tanh") == s
    assert grad_stats(a) == grad_stats(a.copy())
