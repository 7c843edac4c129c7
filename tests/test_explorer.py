"""The offline HTML explorer, in a real headless Chromium (Debian's package, driven by
Playwright for Python through ``executable_path``; no browser download).

Every page is loaded from file:// with every network request refused and recorded (none
may be attempted), with no console error; a layer and a neuron are clicked and the sum
and output the page shows are compared with the engine's ``connections``; the
receptive-field box with ``receptive_field``; arrow keys step through the layers.
Screenshots go to ``$CNNSIM_ARTIFACTS`` (default: the test's tmp folder).
"""

import json
import os
import re
import shutil

import numpy as np
import pytest
from cases import without_dac_override

import cnnsim
from cnnsim import layers as L
from cnnsim import models
from cnnsim.engine import connections, receptive_field, record
from cnnsim.engine.trace import Trace, TraceError
from cnnsim.explorer import Explorer, render_html, write_html
from cnnsim.explorer.payload import build_payload

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_or_skip():
    if CHROMIUM is None:
        pytest.skip(
            "no chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)"
        )
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (it is in the test extra)")


@pytest.fixture(scope="module")
def browser():
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=(
                "--no-sandbox --disable-gpu --disable-quic --no-first-run "
                "--disable-background-networking --disable-component-update "
                "--disable-sync"
            ).split(),
        )
        yield b
        b.close()


class Page:
    """One loaded explorer page and what it did."""

    def __init__(self, browser, path):
        self.ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.ctx.new_page()
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

        def refuse(route):
            route.abort() if not route.request.url.startswith("file:") else route.continue_()

        self.page.route("**/*", refuse)
        self.url = "file://" + os.path.abspath(path)
        self.page.goto(self.url)
        self.page.wait_for_selector("#layer-title")

    def click_layer(self, index):
        node = f'#graph-pane g.node[data-step="{index}"]'
        if self.page.locator(node).count() == 0:  # inside a collapsed block: open it
            self.page.locator(f'#graph-pane g.node[data-block="{self.block_of(index)}"]').click()
        self.page.click(node)
        self.page.wait_for_selector(f'#layer-title[data-step="{index}"]')

    def click_neuron(self, step, m, i, j):
        """Click pixel (i, j) of map m (or unit m of a vector layer) like a user."""
        if len(step.output_shape) == 1:
            cv = self.page.locator("#detail-pane canvas.map.vector").first
            box = cv.bounding_box()
            n = step.output_shape[0]
            cv.click(position={"x": (m + 0.5) * box["width"] / n, "y": box["height"] / 2})
        else:
            cv = self.page.locator(f'#detail-pane .maps canvas.map[data-map="{m}"]').first
            box = cv.bounding_box()
            _, h, w = step.output_shape
            cv.click(
                position={"x": (j + 0.5) * box["width"] / w, "y": (i + 0.5) * box["height"] / h}
            )
        self.page.wait_for_selector("#nx-output")

    def block_of(self, index):
        name = self.page.evaluate(f"window.cnnsimExplorer.data.steps[{index}].name")
        return name.split("/")[0]

    def value(self, sel):
        return float(self.page.get_attribute(sel, "data-value"))

    def shot(self, name, tmp_path):
        d = os.environ.get("CNNSIM_ARTIFACTS") or str(tmp_path)
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, name)
        self.page.screenshot(path=p, full_page=False)
        assert os.path.getsize(p) > 10_000
        return p

    def close(self):
        self.ctx.close()

    def assert_offline_and_clean(self):
        assert self.requests == [self.url], f"requests besides the page: {self.requests}"
        assert self.errors == [], self.errors


def _digit_input(net, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((1,) + tuple(net.input_shape)).astype(np.float32)


def _check_neurons(pg, tr, picks):
    """Click each (layer, map, row, col); the page's numbers equal the engine's."""
    for name, m, i, j in picks:
        step = tr.step(name)
        pg.click_layer(step.index)
        pg.click_neuron(step, m, i, j)
        c = connections(tr, name, m, i, j)
        tol = 1e-9 * (c.scale + 1)
        assert abs(pg.value("#nx-sum") - c.sum) <= tol, (name, m, i, j)
        assert abs(pg.value("#nx-output") - c.output) <= tol, (name, m, i, j)
        assert abs(pg.value("#nx-recorded") - c.recorded) == 0
        assert "✓" in pg.page.inner_text("#nx-check"), name
        if len(tr.input_shape) == 3:
            rf = receptive_field(tr, name, m, i, j)
            box = [int(v) for v in pg.page.get_attribute("#rf-box", "data-box").split(",")]
            assert box == list(rf.clipped), (name, m, i, j)


def _random_picks(tr, rng, per_layer=1):
    picks = []
    for s in tr.steps:
        shp = s.output_shape
        for _ in range(per_layer):
            if len(shp) == 3:
                picks.append(
                    (
                        s.name,
                        int(rng.integers(shp[0])),
                        int(rng.integers(shp[1])),
                        int(rng.integers(shp[2])),
                    )
                )
            else:
                picks.append((s.name, int(rng.integers(shp[0])), 0, 0))
    return picks


# ---- pages in the browser ----------------------------------------------------------------
def test_lenet5_page_every_layer_in_browser(browser, tmp_path):
    net = models.build("lenet5")
    tr = record(net, _digit_input(net))
    path = tmp_path / "lenet5.html"
    size = write_html(tr, path)
    assert size <= 3 * 2**20  # the budget for LeNet-5
    pg = Page(browser, path)
    try:
        # corner neurons reach into the padding / edges; then random ones on every layer
        picks = [("C1", 0, 0, 0), ("C1", 5, 27, 27), ("C3", 3, 9, 0), ("S2", 2, 13, 13)]
        picks += _random_picks(tr, np.random.default_rng(1))
        _check_neurons(pg, tr, picks)
        pg.shot("explorer-lenet5.png", tmp_path)
        pg.assert_offline_and_clean()
    finally:
        pg.close()


def test_keyboard_steps_through_layers(browser, tmp_path):
    net = models.build("lenet5")
    tr = record(net, _digit_input(net))
    path = tmp_path / "k.html"
    write_html(tr, path)
    pg = Page(browser, path)
    try:
        pg.click_layer(0)
        pg.page.keyboard.press("ArrowRight")
        pg.page.wait_for_selector('#layer-title[data-step="1"]')
        pg.page.keyboard.press("ArrowRight")
        pg.page.keyboard.press("ArrowLeft")
        pg.page.wait_for_selector('#layer-title[data-step="1"]')
        pg.page.click("#next")
        assert pg.page.get_attribute("#layer-title", "data-step") == "2"
        assert tr.steps[2].name in pg.page.inner_text("#layer-title")
        pg.assert_offline_and_clean()
    finally:
        pg.close()


def test_small_googlenet_branches_and_concat(browser, tmp_path):
    net = models.googlenet(input_shape=(3, 64, 64), width=0.125, num_classes=10)
    tr = record(net, _digit_input(net))
    path = tmp_path / "g.html"
    write_html(tr, path)
    pg = Page(browser, path)
    try:
        concat = next(s for s in tr.steps if s.kind == "DepthConcat")
        c0 = concat.output_shape[0]
        picks = [(concat.name, 0, 1, 1), (concat.name, c0 - 1, 2, 2)]
        picks += [p for p in _random_picks(tr, np.random.default_rng(2)) if p[0] != concat.name][
            :12
        ]
        _check_neurons(pg, tr, picks)
        # the graph draws the branches side by side: several nodes share one row
        ys = pg.page.eval_on_selector_all(
            "#graph-pane g.node", "gs => gs.map(g => g.getAttribute('transform'))"
        )
        rows = [re.search(r",([0-9.]+)\)", t).group(1) for t in ys]
        assert max(rows.count(r) for r in rows) >= 3
        pg.shot("explorer-inception.png", tmp_path)
        pg.assert_offline_and_clean()
    finally:
        pg.close()


def _small_inception_net():
    x = cnnsim.Input((3, 16, 16))
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    b1 = L.Conv2D(4, 1, activation="relu", name="b1x1")(h)
    b2 = L.Conv2D(6, 3, padding="same", activation="relu", name="b3x3")(
        L.Conv2D(3, 1, activation="relu", name="b3x3_reduce")(h)
    )
    b3 = L.Conv2D(2, 5, padding="same", activation="relu", name="b5x5")(
        L.Conv2D(2, 1, activation="relu", name="b5x5_reduce")(h)
    )
    b4 = L.Conv2D(2, 1, activation="relu", name="pool_proj")(
        L.MaxPool2D(3, stride=1, padding="same", name="pool")(h)
    )
    cat = L.DepthConcat(name="concat")([b1, b2, b3, b4])
    y = L.Dense(5, activation="softmax", name="out")(L.Flatten()(L.GlobalAvgPool()(cat)))
    return cnnsim.Model(x, y, name="mini-inception")


def _small_resnet():
    x = cnnsim.Input((3, 12, 12))
    h = L.Conv2D(4, 3, padding="same", activation="relu", name="stem")(x)
    a = L.Conv2D(4, 3, padding="same", activation="relu", name="res1_conv1")(h)
    a = L.Conv2D(4, 3, padding="same", name="res1_conv2")(a)
    h2 = L.Add(activation="relu", name="res1_add")([a, h])
    p = L.MaxPool2D(2, name="pool")(h2)
    lrn = L.LRN(name="lrn")(p)
    y = L.Dense(3, name="out")(L.Flatten(name="flat")(lrn))
    return cnnsim.Model(x, y, name="mini-resnet")


def test_user_built_residual_net_with_gradients(browser, tmp_path):
    net = _small_resnet()
    x = _digit_input(net, 3)
    tr = record(net, x)
    y = net(x)
    net.backprop(np.ones_like(y))
    tr.record_backward(net, np.ones_like(y))
    path = tmp_path / "r.html"
    write_html(tr, path)
    pg = Page(browser, path)
    try:
        add = tr.step("res1_add")
        _check_neurons(
            pg,
            tr,
            [
                ("res1_add", 1, 0, 0),
                ("lrn", 0, 2, 3),
                ("lrn", 3, 5, 5),
                ("pool", 2, 5, 5),
                ("out", 2, 0, 0),
            ],
        )
        # the skip connection is drawn as a skip edge (from stem over the two convs)
        assert pg.page.locator("#graph-pane path.edge.skip").count() >= 1
        # gradients: the toggle shows dL/dy maps and the norms plot exists
        pg.click_layer(add.index)
        pg.page.click("#toggle-grad")
        assert "Gradient maps" in pg.page.inner_text("#detail-pane")
        assert pg.page.locator("#gradplot").count() == 1
        pg.shot("explorer-residual.png", tmp_path)
        pg.assert_offline_and_clean()
    finally:
        pg.close()


def test_small_zoo_resnet18_and_user_inception(browser, tmp_path):
    for k, net in enumerate(
        [
            models.resnet18(input_shape=(3, 32, 32), width=0.125, num_classes=10),
            _small_inception_net(),
        ]
    ):
        tr = record(net, _digit_input(net, k))
        path = tmp_path / f"z{k}.html"
        write_html(tr, path)
        pg = Page(browser, path)
        try:
            _check_neurons(pg, tr, _random_picks(tr, np.random.default_rng(k))[:14])
            pg.assert_offline_and_clean()
        finally:
            pg.close()


def test_small_alexnet_grouped_conv_lrn_dropout(browser, tmp_path):
    from engine_nets import small_alexnet

    net = small_alexnet()
    tr = record(net, _digit_input(net, 5))
    path = tmp_path / "a.html"
    write_html(tr, path)
    pg = Page(browser, path)
    try:
        _check_neurons(
            pg,
            tr,
            [
                ("N1", 0, 2, 2),
                ("N1", 3, 4, 4),
                ("C2", 5, 1, 1),
                ("S1", 1, 0, 0),
                ("drop", 3, 0, 0),
                ("out", 2, 0, 0),
            ],
        )
        pg.assert_offline_and_clean()
    finally:
        pg.close()


# ---- without a browser ---------------------------------------------------------------------
def test_page_is_self_contained_and_atomic(tmp_path):
    net = _small_resnet()
    tr = record(net, _digit_input(net))
    page = render_html(tr)
    assert "<script src" not in page and "<link" not in page
    assert not re.search(r"https?://", page.replace("http://www.w3.org/2000/svg", ""))
    # the data survive "</script>" in a layer name
    out = tmp_path / "p.html"
    write_html(tr, out)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".part")]
    with pytest.raises(TraceError, match="does not exist"):
        write_html(tr, tmp_path / "nodir" / "p.html")


_WRITE_INTO = """
import sys
import numpy as np
from cnnsim import models
from cnnsim.engine import record
from cnnsim.engine.trace import TraceError
from cnnsim.explorer import write_html

net = models.lenet5()
tr = record(net, np.zeros((1,) + tuple(net.input_shape), np.float32))
try:
    write_html(tr, sys.argv[1])
except TraceError as e:
    print(e)
    sys.exit(3)
"""


def test_unwritable_folder_leaves_nothing(tmp_path):
    """write_html into a folder the user cannot write: a TraceError naming it, no file.
    In a separate process; when the tests run as root (who ignores folder permissions
    through CAP_DAC_OVERRIDE), as root without that capability (setpriv)."""
    import subprocess
    import sys

    prefix = without_dac_override()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        r = subprocess.run(
            [*prefix, sys.executable, "-c", _WRITE_INTO, str(ro / "p.html")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert r.returncode == 3, (r.stdout, r.stderr)
        assert "not writable" in r.stdout and "Traceback" not in r.stderr
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o700)


def test_light_trace_and_unknown_layer_say_what_to_do(tmp_path):
    net = _small_resnet()
    x = _digit_input(net)
    light = record(net, x, light=True)
    with pytest.raises(TraceError, match="without --light"):
        render_html(light, layers=["stem"])
    full = record(net, x)
    with pytest.raises(TraceError, match="no layer named 'nope'.*valid names"):
        render_html(full, layers=["nope"])


def test_exact_layers_and_budget(tmp_path):
    net = _small_resnet()
    tr = record(net, _digit_input(net))
    d = build_payload(tr, layers=["stem"])
    assert d["exact_layers"] == ["stem"]
    assert [s["exact"] for s in d["steps"]].count(True) == 1
    d = build_payload(tr, budget=0)
    assert d["exact_layers"] == []
    assert all("maps" in s for s in d["steps"])
    d = build_payload(tr, neurons=[("lrn", 0, 1, 1)])
    assert "lrn" in d["exact_layers"] and d["neurons"][0]["ok"]


def test_saved_trace_round_trip_view(tmp_path):
    net = _small_resnet()
    tr = record(net, _digit_input(net))
    tr.save(tmp_path / "t.npz")
    loaded = Trace.load(tmp_path / "t.npz")
    a, b = build_payload(tr), build_payload(loaded)
    assert json.dumps(a["steps"], sort_keys=True) == json.dumps(b["steps"], sort_keys=True)


def test_jupyter_iframe(tmp_path):
    net = _small_resnet()
    tr = record(net, _digit_input(net))
    h = Explorer(tr)._repr_html_()
    assert h.startswith("<iframe srcdoc=") and "&lt;script&gt;" in h
    assert tr.explorer()._repr_html_().startswith("<iframe")


def test_payload_big_nets_within_budget():
    """AlexNet (lecture variant, 227x227) stays within the 25 MB default."""
    net = models.build("alexnet")
    x = np.random.default_rng(0).random((1,) + tuple(net.input_shape)).astype(np.float32)
    tr = record(net, x)
    page = render_html(tr)
    assert len(page.encode()) <= 25 * 2**20
    d = build_payload(tr)
    assert "C1" in d["exact_layers"]


# ---- the command line ----------------------------------------------------------------------
def test_cli_step_html_and_view(tmp_path):
    from click.testing import CliRunner

    from cnnsim.cli.main import cli

    r = CliRunner().invoke(
        cli,
        [
            "step",
            "lenet5",
            "--neuron",
            "C3:2:4:4",
            "--html",
            str(tmp_path / "s.html"),
            "--save",
            str(tmp_path / "s.npz"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "wrote the explorer" in r.output
    page = (tmp_path / "s.html").read_text()
    data = json.loads(re.search(r"window.CNNSIM_TRACE = (.*?);</script>", page, re.S).group(1))
    pre = data["neurons"][0]
    assert pre["neuron"] == ["C3", 2, 4, 4] and pre["ok"] and "effective" in pre
    r = CliRunner().invoke(
        cli,
        [
            "view",
            str(tmp_path / "s.npz"),
            "-o",
            str(tmp_path / "v.html"),
            "--layers",
            "C1,S2",
            "--neurons",
            "C1:0:0:0",
        ],
    )
    assert r.exit_code == 0, r.output
    # bad input: one line, exit 2, nothing written
    (tmp_path / "bad.npz").write_bytes(b"not a trace")
    r = CliRunner().invoke(cli, ["view", str(tmp_path / "bad.npz"), "-o", str(tmp_path / "b.html")])
    assert r.exit_code == 2 and "Traceback" not in r.output and not (tmp_path / "b.html").exists()
    r = CliRunner().invoke(
        cli, ["view", str(tmp_path / "s.npz"), "-o", str(tmp_path / "b.html"), "--layers", "C9"]
    )
    assert r.exit_code == 2 and "no layer named 'C9'" in r.output
    r = CliRunner().invoke(cli, ["step", "lenet5", "--html", str(tmp_path / "no" / "x.html")])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_explain_conv_page_lecture_example(browser, tmp_path):
    """Géron fig. 14-4 (5x7 -> 3x4, 3x3, stride 2, SAME: one row/column of zeros on every
    side) as a page: neuron (1, 2) reads input rows 1..3 and columns 3..5 (rows 2..4,
    columns 4..6 of the zero-padded 7x9 input, as `cnnsim explain conv` prints)."""
    from click.testing import CliRunner

    from cnnsim.cli.main import cli

    out = tmp_path / "conv.html"
    r = CliRunner().invoke(
        cli,
        [
            *(
                "explain conv --input 5x7 --kernel 3 --stride 2 --padding "
                "same --neuron 1,2 --no-plot --html"
            ).split(),
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    pg = Page(browser, out)
    try:
        assert pg.page.get_attribute("#rf-box", "data-box") == "1,3,3,5"
        text = pg.page.inner_text("#neuron")
        assert "x[0,1,3]" in text and "x[0,3,5]" in text and "✓" in text
        # another neuron: the bottom-right one reaches into the padding
        step = type("S", (), {"output_shape": (1, 3, 4)})
        pg.click_neuron(step, 0, 2, 3)
        assert "(padding)" in pg.page.inner_text("#neuron")
        # rows 3..5 and columns 5..7 of which row 5 and column 7 are padding
        assert pg.page.get_attribute("#rf-box", "data-box") == "3,4,5,6"
        pg.shot("explorer-explain-conv.png", tmp_path)
        pg.assert_offline_and_clean()
    finally:
        pg.close()


def test_explain_pool_page(browser, tmp_path):
    from click.testing import CliRunner

    from cnnsim.cli.main import cli

    out = tmp_path / "pool.html"
    r = CliRunner().invoke(
        cli,
        [
            "explain",
            "pool",
            "--values",
            "1 5 2 0; 3 4 8 6; 0 2 1 1; 7 3 9 4",
            "--no-plot",
            "--html",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    pg = Page(browser, out)
    try:
        assert pg.value("#nx-output") == 5.0
        assert "★ winner" in pg.page.inner_text("#neuron")
        step = type("S", (), {"output_shape": (1, 2, 2)})
        pg.click_neuron(step, 0, 1, 1)
        assert pg.value("#nx-output") == 9.0
        pg.assert_offline_and_clean()
    finally:
        pg.close()
