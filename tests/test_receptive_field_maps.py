"""Receptive fields per map against brute force, on every layer of LeNet-5, a small AlexNet,
a small GoogLeNet (every branch) and a small ResNet; the maps each neuron reads; the
published values in the summary."""

import numpy as np
import pytest
from engine_nets import small_alexnet

from cnnsim import functional as F
from cnnsim import layers as L
from cnnsim import models
from cnnsim.engine import connections, record
from cnnsim.engine.receptive_field import receptive_field
from cnnsim.layers.explain import ALL
from cnnsim.models.summary import describe, format_table

BIG = 50.0


def _linear(net):
    """No activations (the box does not depend on them; a ReLU that stays off, or a
    saturated tanh under a max pool, would hide a pixel from the brute force)."""
    for leaf in net.all_leaves():
        if getattr(leaf, "activation", None) in ("relu", "tanh", "scaled_tanh"):
            leaf.activation = None
    return net


NETS = {
    "lenet5": lambda: _linear(models.build("lenet5")),
    "small-alexnet": lambda: small_alexnet(None),
    "small-googlenet": lambda: _linear(
        models.googlenet(width=1 / 32, input_shape=(3, 32, 32), num_classes=5, seed=1)
    ),
    "small-resnet": lambda: _linear(
        models.resnet18(width=1 / 16, input_shape=(3, 32, 32), num_classes=5, seed=1)
    ),
}


def _influence(net, x, chunk=128):
    """``{path: bool (H*W, C, H_out, W_out)}``: does perturbing input pixel p (all
    channels, by +-50, +-5 or +-0.5: a max pool after LRN, whose output is not monotonic,
    needs a moderate change to pass the winner) change neuron (c, r, c') of that layer?
    Batched forward passes."""
    h, w = x.shape[2:]
    base = {}

    class Grab:
        def __init__(self, store):
            self.store = store

        def on_forward(self, layer, xx, y, s):
            if y.ndim == 4:
                self.store(layer.path, y)

        def on_backward(self, *a):
            pass

    with L.observe(Grab(lambda p, y: base.__setitem__(p, y.copy()))):
        net(x)
    out = {p: np.zeros((h * w,) + v.shape[1:], bool) for p, v in base.items()}
    pix = np.arange(h * w)
    # the unperturbed outputs at each batch size used: the kernels may take another path
    # (another summation order) for a batch than for one image, so compare like with like
    batch_base = {}
    for n in {min(chunk, h * w - lo) for lo in range(0, h * w, chunk)}:
        store_n = batch_base.setdefault(n, {})
        with L.observe(Grab(lambda p, y, d=store_n: d.__setitem__(p, y.copy()))):
            net(np.repeat(x, n, axis=0))
    for sign in (BIG, -BIG, 5.0, -5.0, 0.5, -0.5):
        for lo in range(0, h * w, chunk):
            ps = pix[lo : lo + chunk]
            xp = np.repeat(x, len(ps), axis=0)
            xp[np.arange(len(ps)), :, ps // w, ps % w] += sign

            def store(p, y, ps=ps):
                out[p][ps] |= y != batch_base[len(ps)][p]

            with L.observe(Grab(store)):
                net(xp)
    return out


def _support(infl, h, w, m, r, c):
    ii = np.flatnonzero(infl[:, m, r, c])
    if ii.size == 0:
        return None
    rows, cols = ii // w, ii % w
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


@pytest.mark.parametrize("name", list(NETS))
def test_per_map_box_equals_perturbation_support(name, monkeypatch):
    net = NETS[name]().astype(np.float64)
    x = np.random.default_rng(0).standard_normal((1,) + net.input_shape)
    tr = record(net, x)
    # The brute force sees max pools as average pools over the same windows: the box is
    # about which pixels are wired to the neuron, and a max pool after another max pool
    # (or after LRN, not monotonic) can hide a wired pixel for one particular input.
    monkeypatch.setattr(
        L.MaxPool2D,
        "_fwd",
        staticmethod(lambda x, size, stride, padding: F.avg_pool2d(x, size, stride, padding)),
    )
    infl = _influence(net, x)
    h, w = net.input_shape[1:]
    checked = 0
    for step in tr:
        if len(step.output_shape) != 3:
            continue
        c_, ho, wo = step.output_shape
        maps = range(c_) if c_ <= 16 else sorted({0, c_ // 3, c_ // 2, c_ - 1})
        for r, c in {(0, 0), (ho - 1, wo - 1), (ho // 2, wo // 2)}:
            for m in maps:
                rf = receptive_field(tr, step.name, m, r, c)
                want = _support(infl[step.name], h, w, m, r, c)
                assert (None if rf.empty else rf.clipped) == want, (step.name, m, r, c)
                checked += 1
    assert checked >= 50


@pytest.mark.parametrize("name", list(NETS))
def test_maps_a_neuron_reads_equal_brute_force(name):
    """``input_maps`` (the set ``connections`` shows, the set the field follows) equals the
    input maps whose change changes the output map, for every layer with map inputs."""
    net = NETS[name]().astype(np.float64)
    x = np.random.default_rng(1).standard_normal((1,) + net.input_shape)
    tr = record(net, x)
    rng = np.random.default_rng(2)
    for step in tr:
        if len(step.output_shape) != 3 or step.layer.kind == "Dropout":
            continue
        xs = step.x if step.merge else [step.x]
        y0 = np.array(step.layer(step.x if not step.merge else list(xs)))
        for k, xk in enumerate(xs):
            reads = {m: set() for m in range(step.output_shape[0])}
            for i in range(xk.shape[1]):
                xp = [a.copy() for a in xs]
                xp[k][:, i] += rng.standard_normal(xp[k][:, i].shape)
                y = step.layer(xp if step.merge else xp[0])
                # a change beyond rounding (LRN's kernel keeps a running sum of squares,
                # whose rounding reaches maps outside the window at the 1e-16 level)
                tol = 1e-12 * (np.abs(y0).max() + 1)
                for m in np.flatnonzero(np.any(np.abs(y - y0) > tol, axis=(0, 2, 3))):
                    reads[int(m)].add(i)
            for m, got in reads.items():
                want = step.cls.input_maps(step, {m}, k)
                want = set(range(xk.shape[1])) if want is ALL else want
                assert got == want, (step.name, k, m)
        step.layer(step.x if not step.merge else list(xs))  # restore caches


def test_lenet5_c3_reads_its_table_row_and_the_box_is_the_same():
    net = models.build("lenet5")
    tr = record(net, np.random.default_rng(3).random((1, 1, 32, 32)).astype(np.float32))
    table = net.find("C3").table
    for m in (0, 6, 15):
        c = connections(tr, "C3", m, 4, 4)
        assert c.channels == [int(i) for i in np.flatnonzero(table[m])]
        assert (
            receptive_field(tr, "C3", m, 4, 4).clipped
            == receptive_field(tr, "C3", 4, 4).clipped
            == (8, 21, 8, 21)
        )


def test_googlenet_3a_concat_maps_have_their_branch_fields():
    """Maps 0 / 100 / 200 / 240 of inception (3a) come from the 1x1, 3x3, 5x5 and pool
    branches: 27 / 43 / 59 / 43 at the centre (not the 59 of the union)."""
    net = models.build("googlenet", aux=False)
    x = np.zeros((1, 3, 224, 224), np.float32)
    tr = record(net, x, light=True)
    sizes = [receptive_field(tr, "inception_3a/concat", m, 14, 14).size for m in (0, 100, 200, 240)]
    assert sizes == [(27, 27), (43, 43), (59, 59), (43, 43)]
    assert receptive_field(tr, "inception_3a/concat", 14, 14).size == (59, 59)  # every map
    rf = receptive_field(tr, "inception_3a/concat", 100, 14, 14)
    assert rf.jump == (8, 8) and rf.start == (-14, -14)
    assert rf.unclipped == (98, 140, 98, 140)


def _row(data, name):
    return next(r for r in data["layers"] if r["name"] == name)


@pytest.mark.parametrize(
    "model, variant, layer, size, jump, pad",
    [
        ("alexnet", "paper", "S8", 195, 32, 64),  # after the last pooling
        ("resnet18", None, "conv5_2", 435, 32, None),  # after the last residual unit
        ("googlenet", None, "inception_5b", 715, 32, None),
    ],
)
def test_published_receptive_fields_in_the_summary(model, variant, layer, size, jump, pad):
    data = describe(model, variant=variant)
    rf = _row(data, layer)["rf"]
    assert rf["size"]["max"] == [size, size] and rf["jump"]["max"] == rf["jump"]["min"] == [
        jump,
        jump,
    ]
    if pad is not None:
        assert rf["start"]["min"] == [-pad, -pad]


def test_summary_shows_ranges_where_maps_differ():
    data = describe("googlenet")
    assert _row(data, "inception_3a")["rf"]["size"] == {"min": [27, 27], "max": [59, 59]}
    assert _row(data, "inception_3a/3x3")["rf"]["size"] == {"min": [43, 43], "max": [43, 43]}
    text = format_table(data)
    line = next(t for t in text.splitlines() if t.startswith("inception_3a "))
    assert "27-59" in line
    assert _row(data, "fc")["rf"] is None
    assert format_table(describe("lenet5")).splitlines()[1].split()[-3:] == ["RF", "Jump", "Start"]


def test_light_and_loaded_traces_know_the_table(tmp_path):
    """A light trace keeps no arrays: the maps a grouped / table conv reads come from its
    settings; a trace read back from a file answers the same."""
    net = small_alexnet()
    x = np.random.default_rng(4).random((1, 3, 23, 23)).astype(np.float32)
    full, light = record(net, x), record(net, x, light=True)
    light.save(tmp_path / "t.npz")
    loaded = type(light).load(tmp_path / "t.npz")
    for tr in (full, light, loaded):
        step = tr["C2"]
        assert step.cls.input_maps(step, {4}) == {2, 3}
        assert (
            receptive_field(tr, "C2", 4, 1, 1).clipped
            == receptive_field(full, "C2", 4, 1, 1).clipped
        )


def test_a_layer_without_a_window_that_resizes_is_refused():
    class Crop(L.Layer):
        kind = "TestCrop"

        def compute_output_shape(self, s):
            return (s[0], s[1] - 2, s[2] - 2)

        def forward(self, x, training=False):
            return x[:, :, 1:-1, 1:-1].copy()

    net = L.Sequential([L.Conv2D(2, 3, name="c"), Crop(name="crop")], input_shape=(1, 8, 8))
    tr = record(net, np.zeros((1, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="'crop'.*changes the map size"):
        receptive_field(tr, "crop", 0, 1, 1)


def test_summary_html_has_the_field_columns():
    from cnnsim.display import summary_html

    html = summary_html(describe("googlenet"))
    assert "27-59" in html and "715" in html
