"""Receptive fields against brute force: perturb one input pixel at a time and see which
ones change the neuron; and the effective field (gradient) inside the theoretical box."""

import numpy as np
import pytest

from cnnsim import geometry, models
from cnnsim import layers as L
from cnnsim.engine import record
from cnnsim.engine.receptive_field import effective_receptive_field, receptive_field

BIG = 50.0


def _stacks():
    return {
        "conv-s2-same/overlapping-maxpool/conv": lambda: L.Sequential(
            [
                L.Conv2D(2, 3, 2, "same", name="a"),
                L.MaxPool2D(3, 2, name="p"),
                L.Conv2D(2, 2, 1, "valid", name="b"),
            ],
            input_shape=(1, 15, 13),
            seed=1,
        ),
        "asymmetric-pad/avgpool-same/stride3-drop": lambda: L.Sequential(
            [
                L.Conv2D(2, (3, 2), 1, (2, 0, 1, 3), name="a"),
                L.AvgPool2D(2, 2, "same", name="p"),
                L.Conv2D(2, 2, 3, "valid", name="b"),
                L.LRN(r=3, k=1.0, alpha=0.1, name="n"),
            ],
            input_shape=(2, 11, 12),
            seed=2,
        ),
        "big-explicit-padding": lambda: L.Sequential(
            [L.Conv2D(1, 3, 1, 0, name="a"), L.Conv2D(2, 5, 2, (4, 1, 4, 1), name="b")],
            input_shape=(1, 9, 9),
            seed=3,
        ),
        "branching": lambda: L.Sequential(
            [
                L.Conv2D(2, 3, 1, "same", name="c"),
                L.Concat(
                    [
                        L.Sequential([L.Conv2D(1, 1, name="1x1")], name="b1"),
                        L.Sequential([L.Conv2D(1, 5, 1, "same", name="5x5")], name="b2"),
                        L.Sequential([L.MaxPool2D(3, 1, "same", name="pool")], name="b3"),
                    ],
                    name="inc",
                ),
                L.ResidualUnit(
                    [L.Conv2D(3, 3, 2, "same", name="a"), L.Conv2D(3, 3, 1, "same", name="b")],
                    shortcut=[L.Conv2D(3, 1, 2, name="proj")],
                    activation=None,
                    name="res",
                ),
                L.ResidualUnit([L.Conv2D(3, 3, 1, "same", name="a")], activation=None, name="id"),
            ],
            input_shape=(1, 12, 11),
            seed=4,
        ),
    }


def _influence(net, x):
    """``{path: bool (H, W, H_out, W_out)}``: does perturbing input pixel (i, j) change output
    position (r, c) of that layer (any map)? One forward pass per perturbation."""
    rec = {}

    class Grab:
        def on_forward(self, layer, xx, y, s):
            if y.ndim == 4:
                rec[layer.path] = y.copy()

        def on_backward(self, *a):
            pass

    h, w = x.shape[2:]
    with L.observe(Grab()):
        net(x)
        base = dict(rec)
        out = {k: np.zeros((h, w) + v.shape[2:], bool) for k, v in base.items()}
        for i in range(h):
            for j in range(w):
                for d in (BIG, -BIG):
                    xp = x.copy()
                    xp[0, :, i, j] += d
                    net(xp)
                    for k in out:
                        out[k][i, j] |= np.any(rec[k] != base[k], axis=(0, 1))
    return out


def _support(influence, path, row, col):
    r, c = np.nonzero(influence[path][:, :, row, col])
    if r.size == 0:
        return None
    return int(r.min()), int(r.max()), int(c.min()), int(c.max())


@pytest.mark.parametrize("name", list(_stacks()))
def test_clipped_box_equals_perturbation_support(name, rng):
    net = _stacks()[name]().astype(np.float64)
    x = rng.standard_normal((1,) + net.input_shape)
    tr = record(net, x)
    influence = _influence(net, x)
    for step in tr:
        if len(step.output_shape) != 3:
            continue
        h, w = step.output_shape[1:]
        for row, col in {(0, 0), (h - 1, w - 1), (h // 2, w // 2), (0, w - 1)}:
            rf = receptive_field(tr, step.name, row, col)
            expected = _support(influence, step.name, row, col)
            assert (None if rf.empty else rf.clipped) == expected, (step.name, row, col)
            if rf.jump is not None:  # the affine summary agrees with the box arithmetic
                assert rf.unclipped == (
                    rf.start[0] + row * rf.jump[0],
                    rf.start[0] + row * rf.jump[0] + rf.size[0] - 1,
                    rf.start[1] + col * rf.jump[1],
                    rf.start[1] + col * rf.jump[1] + rf.size[1] - 1,
                )
            erf = effective_receptive_field(net, x, step.name, 0, row, col)
            sup = erf.support()
            if sup is not None:
                assert rf.top <= sup[0] <= sup[1] <= rf.bottom
                assert rf.left <= sup[2] <= sup[3] <= rf.right


def test_plain_stack_matches_the_classical_recurrence(rng):
    net = models.build("lenet5")
    tr = record(net, rng.random((1, 1, 32, 32)).astype(np.float32), light=True)
    geo = []
    for step in tr.steps[:5]:
        g = step.geometry
        geo.append((g["kernel"], g["stride"], (g["padding"][0], g["padding"][2])))
        size, jump, start = geometry.compose_receptive_field(geo)
        rf = receptive_field(tr, step.name, 0, 0)  # works on a light trace
        assert (rf.size, rf.jump, rf.start) == (size, jump, start)
    assert receptive_field(tr, "C5", 0, 0).clipped == (0, 31, 0, 31)
    assert receptive_field(tr, "F6", 0, 0).whole_image
    assert receptive_field(tr, "C3", 2, 3).clipped == (4, 17, 6, 19)


def test_effective_field_of_a_linear_average_stack_fills_the_box(rng):
    net = L.Sequential(
        [
            L.Conv2D(2, 3, 1, "same", name="a"),
            L.AvgPool2D(2, name="p"),
            L.Conv2D(1, 3, 2, "same", name="b"),
        ],
        input_shape=(1, 10, 10),
        seed=5,
    ).astype(np.float64)
    x = rng.standard_normal((1, 1, 10, 10))
    tr = record(net, x)
    rf = receptive_field(tr, "b", 2, 1)
    erf = effective_receptive_field(net, x, "b", 0, 2, 1)
    assert erf.support() == rf.clipped
    grads_before = {k: v.copy() for k, v in net.find("a").grads.items()}
    effective_receptive_field(net, x, "b", 0, 0, 0)
    for k, v in net.find("a").grads.items():
        np.testing.assert_array_equal(v, grads_before[k])  # a probe, not a training step
