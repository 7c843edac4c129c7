"""Traces: recording, stepping, light mode, gradients, save/load."""

import json

import numpy as np
import pytest
from engine_nets import small_alexnet, small_googlenet_resnet

from cnnsim import models
from cnnsim.engine import Stepper, Trace, TraceError, planned_steps, record
from cnnsim.engine.stats import array_stats, grad_stats
from cnnsim.engine.trace import Deferred, Recorder
from cnnsim.graph import graph_of
from cnnsim.layers import observe


def test_steps_follow_the_stated_order_and_data_flow(rng):
    net = small_googlenet_resnet()
    x = rng.random((2,) + net.input_shape).astype(np.float32)
    tr = record(net, x)
    names = tr.names()
    assert names == [l.path for l in net.leaves()]
    assert names[2:6] == [
        "inception/b1/1x1",
        "inception/b2/reduce",
        "inception/b2/3x3",
        "inception/b3/reduce",
    ]
    assert [names[s] for s in tr["inception/concat"].sources] == [
        "inception/b1/1x1",
        "inception/b2/3x3",
        "inception/b3/5x5",
        "inception/b4/proj",
    ]
    assert [names[s] for s in tr["res1/add"].sources] == ["res1/main/b", "res1/shortcut/proj"]
    assert [names[s] for s in tr["res2/add"].sources] == ["res2/main/b", "res1/add"]
    assert tr["conv1"].sources == [-1]
    np.testing.assert_array_equal(tr.output, net(x))


def test_stepper_equals_recording_and_stops_where_asked(rng):
    net = small_googlenet_resnet()
    x = rng.random((1,) + net.input_shape).astype(np.float32)
    full = record(net, x)
    st = Stepper(net, x, breakpoints=["res1"])
    assert st.next().name == "conv1" and st.position == 1
    assert st.run_to("inception").name == "inception/concat"
    assert st.run().name == "res1/add"  # breakpoint on a container: its last leaf
    with pytest.raises(ValueError, match="already run"):
        st.run_to("conv1")
    with pytest.raises(KeyError, match="valid names: conv1, bn1"):
        st.run_to("nope")
    steps = list(st)
    assert st.done and steps[-1].name == "softmax"
    with pytest.raises(StopIteration):
        st.next()
    for a, b in zip(full, st.trace):
        assert a.name == b.name and a.sources == b.sources and a.stats == b.stats
        np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(st.output, full.output)


@pytest.mark.parametrize("build", [small_googlenet_resnet, lambda: models.build("lenet5")])
def test_planned_steps_are_the_recorded_steps_before_the_run(build, rng):
    """What a table is sized from (and --neuron checked against) before there is an
    input: the same steps, in the same order, with the same shapes, geometry and
    activation as the run records; and a Stepper's index of a container is its last leaf."""
    net = build()
    plan = planned_steps(net)
    tr = record(net, rng.random((1,) + tuple(net.input_shape)).astype(np.float32), light=True)
    keys = ("index", "name", "kind", "input_shape", "output_shape", "geometry", "activation")
    assert [[getattr(s, k) for k in keys] for s in plan] == [
        [getattr(s, k) for k in keys] for s in tr
    ]
    assert all(not s.stats and not s.kept for s in plan)
    st = Stepper(net, tr.input)
    for s in plan:
        assert st.index_of(s.name) == s.index and st.leaves_of(s.name) == [s.name]
    if "res1/add" in st.names():  # a container: its last leaf
        assert st.index_of("res1") == st.names().index("res1/add")
    with pytest.raises(KeyError, match="no layer named 'nope'"):
        st.index_of("nope")


def test_stats_and_light_mode(rng):
    net = models.build("lenet5")
    x = rng.random((4, 1, 32, 32)).astype(np.float32)
    tr = record(net, x)
    y = tr["C1"].y
    s = tr["C1"].stats
    assert s["min"] == float(y.min()) and s["max"] == float(y.max())
    assert s["mean"] == pytest.approx(float(y.astype(np.float64).mean()), rel=1e-12)
    assert s["saturated"] == float(np.mean(np.abs(y) >= 0.99 * 1.7159))
    r = array_stats(np.array([0.0, -1.0, 2.0, 0.0]), "relu")
    assert r["zeros"] == 0.5 and r["saturated"] is None
    assert array_stats(np.array([0.001, 0.5, 0.999, 0.2]), "sigmoid")["saturated"] == 0.5
    assert grad_stats(np.array([3.0, -4.0]))["norm"] == 5.0
    light = record(net, x, light=True, keep=["C3"])
    assert all(st.y is None for st in light if st.name != "C3")
    assert light["C3"].y is not None and light["C5"].stats == tr["C5"].stats


class _Snapshots(Recorder):
    """Keeps a copy of each output at the moment its layer returns it; ``snaps``: the
    statistics of those copies (once the pass is over and its steps are built)."""

    def __init__(self, trace, graph):
        super().__init__(trace, graph=graph)
        self.copies = []

    def on_forward(self, layer, x, y, seconds):
        super().on_forward(layer, x, y, seconds)
        self.copies.append(np.array(y, copy=True))

    @property
    def snaps(self):
        steps = self.trace.steps
        return [array_stats(c, s.facts["range_activation"]) for c, s in zip(self.copies, steps)]


@pytest.mark.parametrize(
    "build",
    [small_alexnet, small_googlenet_resnet, lambda: models.build("lenet5")],
    ids=["alexnet-like", "googlenet-resnet-like", "lenet5"],
)
@pytest.mark.parametrize("training", [False, True])
def test_deferred_stats_are_those_of_the_recorded_pass(build, training, rng):
    """A kept step's statistics are computed on first read; by then the network has run
    again (forward and backward, another input): they must still describe the recorded
    output, i.e. nothing writes into an output after its layer returned it."""
    net = build()
    x = rng.random((3,) + net.input_shape).astype(np.float32)
    tr = Trace(model="t", input_shape=x.shape[1:], input=x)
    rec = _Snapshots(tr, graph_of(net))
    with observe(rec):
        y = net(x, training)
    rec.finish(y)  # the kept steps are built after the pass
    assert len(tr.steps) == len(rec.copies) > 0
    assert all(isinstance(s.__dict__["_stats"], Deferred) for s in tr)  # not yet read
    for _ in range(2):
        y2 = net(rng.random(x.shape).astype(np.float32), training)
        net.backprop(rng.standard_normal(y2.shape).astype(np.float32))
    assert len(rec.snaps) == len(tr.steps)
    for st, snap in zip(tr, rec.snaps):
        assert st.stats == snap, st.name
    assert y is tr.steps[-1].y


def test_facts_follow_a_layer_whose_settings_change_between_traces(rng):
    """The recorder reuses a layer's JSON-checked settings while they are unchanged; a
    change (a teacher sets LRN's k between two runs) shows in the next trace, not in the
    earlier one."""
    net = small_alexnet()
    x = rng.random((2,) + net.input_shape).astype(np.float32)
    first = record(net, x)
    lrn = net.find("N1")
    lrn.k = 3.0
    second = record(net, x)
    assert first["N1"].facts["k"] == 2.0 and second["N1"].facts["k"] == 3.0
    assert second["C1"].facts == first["C1"].facts
    second["C1"].facts["filters"] = -1  # a step's facts and geometry are its own copies
    second["C1"].geometry["stride"] = (9, 9)
    third = record(net, x)["C1"]
    assert third.facts["filters"] == 4 and third.geometry == first["C1"].geometry
    assert third.geometry["stride"] != (9, 9)


def test_backward_records_every_gradient(rng):
    net = small_googlenet_resnet().astype(np.float64)
    x = rng.random((2,) + net.input_shape)
    tr = record(net, x)
    dy = rng.standard_normal(tr.output.shape)
    dx = tr.record_backward(net, dy)
    assert tr["conv1"].grad_x is dx
    np.testing.assert_array_equal(tr["softmax"].grad_y, dy)
    for st in tr:
        assert st.grad_stats is not None and "y" in st.grad_stats
    conv = net.find("res1/main/a")
    np.testing.assert_array_equal(tr["res1/main/a"].grad_params["w"], conv.grads["w"])
    assert tr["res1/main/a"].grad_stats["w"]["norm"] == pytest.approx(
        np.linalg.norm(conv.grads["w"])
    )
    # the gradient reaching the identity shortcut's source is the sum of both paths
    add = tr["res2/add"]
    np.testing.assert_allclose(
        tr["res1/add"].grad_y, add.grad_x[1] + tr["res2/main/a"].grad_x, rtol=1e-12
    )


def test_save_load_round_trip_is_bit_exact(tmp_path, rng):
    net = small_googlenet_resnet()
    x = rng.random((2,) + net.input_shape).astype(np.float32)
    tr = record(net, x, model="toy")
    tr.record_backward(net, np.ones_like(tr.output))
    path = tr.save(tmp_path / "t.npz")
    back = Trace.load(path)
    assert back.model == "toy" and back.input_shape == tr.input_shape and back.meta == tr.meta
    np.testing.assert_array_equal(back.input, tr.input)
    for a, b in zip(tr, back):
        for f in (
            "index",
            "name",
            "kind",
            "input_shape",
            "output_shape",
            "geometry",
            "activation",
            "stats",
            "seconds",
            "sources",
            "grad_stats",
        ):
            assert getattr(a, f) == getattr(b, f), f
        arrays = (
            [(a.y, b.y)]
            + [(a.params[k], b.params[k]) for k in a.params]
            + [(a.grad_params[k], b.grad_params[k]) for k in a.grad_params]
            + [(a.grad_y, b.grad_y)]
        )
        arrays += list(zip(a.x, b.x)) if a.merge else [(a.x, b.x)]
        for u, v in arrays:
            assert u.dtype == v.dtype and u.shape == v.shape
            assert u.tobytes() == v.tobytes()
    assert back.to_dict() == json.loads(json.dumps(tr.to_dict()))


def test_bad_trace_files_give_one_line_errors(tmp_path, rng):
    with pytest.raises(TraceError, match="no such file"):
        Trace.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file at all")
    with pytest.raises(TraceError, match="not a readable cnnsim trace") as e:
        Trace.load(junk)
    assert "\n" not in str(e.value)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(TraceError, match="no metadata"):
        Trace.load(foreign)
    net = models.build("lenet5")
    tr = record(net, rng.random((1, 1, 32, 32)).astype(np.float32), light=True)
    good = tr.save(tmp_path / "good.npz")
    with np.load(good) as z:
        data = {k: z[k] for k in z.files}
    meta = json.loads(str(data["meta"][()]))
    meta["version"] = 99
    data["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "future.npz", **data)
    with pytest.raises(TraceError, match="version 99; this cnnsim reads version 1"):
        Trace.load(tmp_path / "future.npz")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(TraceError):
        Trace.load(cut)
    # a failed save leaves nothing behind
    bad = record(net, rng.random((1, 1, 32, 32)).astype(np.float32))
    bad.meta["oops"] = object()
    with pytest.raises(TypeError):
        bad.save(tmp_path / "half.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["junk.npz", "foreign.npz", "good.npz", "future.npz", "cut.npz"]
    )


def test_a_setting_json_cannot_hold_is_left_out_of_the_facts(rng):
    from cnnsim import layers as L

    class Scaled(L.Activation):
        def get_config(self):
            return {**super().get_config(), "scale": np.array([2.0, 3.0]), "note": "x2"}

    net = L.Sequential([L.Flatten(name="flat"), Scaled("relu", name="act")], input_shape=(4,))
    x = rng.random((2, 4)).astype(np.float32)
    for _ in range(2):  # the second time through the recorder's reuse of checked settings
        facts = record(net, x)["act"].facts
        assert "scale" not in facts and facts["note"] == "x2"


class _BuildAtOnce(Recorder):
    """Builds every step inside its layer's call (how the recorder worked before it
    waited for the end of the pass)."""

    def on_forward(self, layer, x, y, seconds):
        super().on_forward(layer, x, y, seconds)
        self.flush()


@pytest.mark.parametrize(
    "build",
    [small_alexnet, small_googlenet_resnet, lambda: models.build("lenet5")],
    ids=["alexnet-like", "googlenet-resnet-like", "lenet5"],
)
def test_steps_built_after_the_pass_are_those_built_during_it(build, rng):
    """``record`` builds the kept steps once the pass is over (less work between the
    kernels); the trace must be the one built call by call: same steps, sources (joins and
    fused pairs too), facts, statistics and arrays. A step that keeps nothing is built in
    its call, so its arrays are not held."""
    net = build()
    x = rng.random((2,) + net.input_shape).astype(np.float32)
    after = record(net, x)
    tr = Trace(model=after.model, input_shape=after.input_shape, input=x, meta=after.meta)
    rec = _BuildAtOnce(tr, graph=graph_of(net))
    with observe(rec):
        y = net(x)
    rec.finish(y)
    assert [s.name for s in after] == [s.name for s in tr] and len(tr) > 3
    for a, b in zip(after, tr):
        assert (a.index, a.kind, a.sources, a.facts, a.geometry, a.activation) == (
            b.index,
            b.kind,
            b.sources,
            b.facts,
            b.geometry,
            b.activation,
        ), a.name
        assert (a.input_shape, a.output_shape, a.stats) == (b.input_shape, b.output_shape, b.stats)
        np.testing.assert_array_equal(a.y, b.y)

    class Held(Recorder):  # how many calls wait, holding their arrays, after each call
        held: list = []

        def on_forward(self, layer, x, y, seconds):
            super().on_forward(layer, x, y, seconds)
            self.held.append(len(self._pending))

    light = Held(Trace(model="l", input_shape=x.shape[1:], input=x), None, True, graph_of(net))
    with observe(light):
        light.finish(net(x))
    assert light.held == [0] * len(tr) and len(light.trace) == len(tr)
