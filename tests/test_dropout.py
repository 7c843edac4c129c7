"""Inverted dropout: identity at inference, seeded masks, keep rate, mean preserved."""

import numpy as np
import pytest

from cnnsim import functional as F
from cnnsim.testing.gradcheck import gradcheck, probe_for


def test_identity_at_inference_and_rate_zero(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for y, mask in (F.dropout(x, 0.5, 0, training=False), F.dropout(x, 0.0, 0)):
        assert mask is None
        np.testing.assert_array_equal(y, x)
    dy = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(F.dropout_backward(dy, None), dy)


def test_seeded_determinism():
    x = np.ones((4, 3, 5, 5), dtype=np.float32)
    y1, m1 = F.dropout(x, 0.4, 7)
    y2, m2 = F.dropout(x, 0.4, np.random.default_rng(7))
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(y1, y2)
    _, m3 = F.dropout(x, 0.4, 8)
    assert not np.array_equal(m1, m3)
    g = np.random.default_rng(7)  # a Generator advances: two calls, two masks
    assert not np.array_equal(F.dropout(x, 0.4, g)[1], F.dropout(x, 0.4, g)[1])


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keep_fraction_and_mean(rate, dtype):
    n = 200_000
    x = np.full((100, n // 100), 3.0, dtype=dtype)
    y, mask = F.dropout(x, rate, 123)
    assert mask.dtype == dtype and mask.shape == x.shape and y.dtype == dtype
    scale = dtype(1.0 / (1.0 - rate))
    assert set(np.unique(mask)) <= {dtype(0), scale}
    kept = np.count_nonzero(mask) / n
    sigma = np.sqrt(rate * (1 - rate) / n)
    assert abs(kept - (1 - rate)) < 5 * sigma  # Bernoulli(1 - rate)
    np.testing.assert_array_equal(y, x * mask)
    # inverted scaling: E[y] = x; the sample mean is within 5 standard errors
    se = 3.0 * np.sqrt(rate / (1 - rate) / n)
    assert abs(y.mean(dtype=np.float64) - 3.0) < 5 * se


def test_backward_is_mask_and_finite_differences(rng):
    x = rng.standard_normal((3, 5))
    y, mask = F.dropout(x, 0.3, 99)
    dy = probe_for(y.shape)
    dx = F.dropout_backward(dy, mask)
    np.testing.assert_array_equal(dx, dy * mask)
    rep = gradcheck(lambda x: F.dropout(x, 0.3, 99)[0], x, grads=(dx,))  # same seed, same mask
    assert rep.ok, str(rep)


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (lambda: F.dropout(np.zeros(3), 1.0, 0), ValueError, r"rate must lie in \[0, 1\), got 1.0"),
        (lambda: F.dropout(np.zeros(3), -0.1, 0), ValueError, r"rate must lie in \[0, 1\)"),
        (lambda: F.dropout(np.zeros(3), "half", 0), TypeError, "rate must be a number"),
        (
            lambda: F.dropout(np.zeros(3), 0.5, "seed"),
            TypeError,
            "rng must be a numpy.random.Generator or an int",
        ),
        (lambda: F.dropout(np.zeros(3, int), 0.5, 0), TypeError, "float32 or float64"),
        (lambda: F.dropout_backward(np.zeros(3), np.zeros(4)), ValueError, "dy of shape"),
    ],
)
def test_bad_input_one_line_errors(call, exc, msg):
    with pytest.raises(exc, match=msg) as e:
        call()
    assert "\n" not in str(e.value) and str(e.value).startswith("dropout")
