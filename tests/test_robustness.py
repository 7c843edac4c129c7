"""Nothing a student or a teacher feeds cnnsim may hang it, exhaust memory, poison a
result or leave debris (issue 22): every reproducer of the issue, as a test.

Numbered as the issue's findings. The CLI cases run in-process through click's runner
(a traceback would show as an exception other than SystemExit); the kill-during-write
cases run real processes.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from cases import child_env, without_dac_override
from click.testing import CliRunner

import cnnsim.functional as F
from cnnsim import layers as L
from cnnsim.cli.main import cli
from cnnsim.testing import naive


def run_cli(args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True, **kw)


def assert_clean_error(res, code=None):
    """Failed with one ``Error:`` line, no traceback, and exit code 1 or 2 (or ``code``)."""
    out = res.output
    assert res.exit_code != 0, out
    assert isinstance(res.exception, SystemExit), (repr(res.exception), out)
    assert "Traceback" not in out, out
    errors = [l for l in out.splitlines() if l.startswith("Error")]
    assert len(errors) == 1, out
    assert "\x1b" not in out
    if code is not None:
        assert res.exit_code == code, out
    else:
        assert res.exit_code in (1, 2), out


# ---- 1. geometry: no hang, no overflow, no huge allocation ------------------------------


@pytest.mark.parametrize("stride", [2**32, 3037000500, 10**5, 2**62])
def test_huge_strides_are_instant_and_correct(stride):
    x = np.ones((2, 3, 8, 8), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    # the kernels see the stride capped at the padded input (8): their layouts are sized
    # by it, so the call is as quick as stride 8 (no timed assertion: speed is for bench)
    from cnnsim import geometry

    assert geometry.window((8, 8), (3, 3), stride).kernel_stride == (8, 8)
    y = F.conv2d(x, w, stride=stride)
    dx, dw, db = F.conv2d_backward(np.ones_like(y), x, w, stride=stride)
    assert y.shape == (2, 4, 1, 1) and np.all(y == 27)
    rdx, rdw, rdb = naive.conv2d_backward(np.ones_like(y), x, w, stride=stride)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(dw, rdw)
    p = F.max_pool2d(x, 2, stride=stride)
    assert p.shape == (2, 3, 1, 1)


def test_kernel_stride_changes_no_number():
    x = np.random.default_rng(0).random((1, 2, 9, 7))
    w = np.random.default_rng(1).random((3, 2, 3, 3))
    for s in (6, 7, 9, 50):
        np.testing.assert_allclose(
            F.conv2d(x, w, stride=s, padding=1), naive.conv2d(x, w, stride=s, padding=1), rtol=1e-12
        )


@pytest.mark.parametrize("padding", [10**9, (0, 2**40), 12])
def test_padding_beyond_the_kernel_is_a_clear_error(padding):
    x = np.ones((1, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match="padding .* larger than kernel"):
        F.conv2d(x, np.ones((1, 1, 3, 3), np.float32), padding=padding)


# ---- 2. non-finite values propagate as IEEE arithmetic would ----------------------------


def _same_nonfinite(y, r):
    np.testing.assert_array_equal(np.isnan(y), np.isnan(r))
    np.testing.assert_array_equal(np.isposinf(y), np.isposinf(r))
    np.testing.assert_array_equal(np.isneginf(y), np.isneginf(r))
    fin = np.isfinite(r)
    np.testing.assert_allclose(y[fin], r[fin], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("padding", ["valid", "same", 1, (0, 2, 1, 0)])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("n", [1, 16])  # 16: the batch-lane layout
def test_conv_inf_input_stays_inf(padding, stride, n):
    rng = np.random.default_rng(3)
    x = rng.random((n, 3, 9, 9))
    x[0, 1, 0, 0] = np.inf
    x[-1, 2, 4, 5] = -np.inf
    w = rng.random((4, 3, 3, 3))
    b = rng.random(4)
    y = F.conv2d(x, w, b, stride=stride, padding=padding)
    r = naive.conv2d(x, w, b, stride=stride, padding=padding)
    _same_nonfinite(y, r)
    assert np.isinf(y).any() and not np.isnan(y).any()
    dy = rng.random(y.shape)
    got = F.conv2d_backward(dy, x, w, stride=stride, padding=padding)
    ref = naive.conv2d_backward(dy, x, w, stride=stride, padding=padding)
    for g, r in zip(got, ref):
        _same_nonfinite(g, r)


@pytest.mark.parametrize("n", [1, 16])
def test_conv_nan_stays_in_the_maps_connected_to_it(n):
    """LeNet-5 C3-like table and a grouped convolution: a NaN in map 0 reaches only the
    filters that read map 0."""
    rng = np.random.default_rng(4)
    x = rng.random((n, 4, 8, 8))
    x[:, 0, 3, 3] = np.nan
    w = rng.random((6, 4, 3, 3))
    table = np.zeros((6, 4), bool)
    table[0, :2] = table[1, 1:3] = table[2, 2:] = table[3, [0, 3]] = True
    table[4, :] = True
    table[5, 3] = True
    for conn in (table, np.kron(np.eye(2, dtype=bool), np.ones((3, 2), bool))):
        y = F.conv2d(x, w, padding=1, connections=conn)
        r = naive.conv2d(x, w, padding=1, connections=conn)
        _same_nonfinite(y, r)
        hit = np.isnan(y).any(axis=(0, 2, 3))
        np.testing.assert_array_equal(hit, conn[:, 0])
        dy = rng.random(y.shape)
        dy[0, int(np.argmax(~conn[:, 0])), 0, 0] = np.inf  # a filter not reading map 0
        got = F.conv2d_backward(dy, x, w, padding=1, connections=conn)
        ref = naive.conv2d_backward(dy, x, w, padding=1, connections=conn)
        for g, rr in zip(got, ref):
            _same_nonfinite(g, rr)


def test_lrn_inf_map_does_not_poison_later_maps():
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        x = rng.random((2, 12, 3, 4)).astype(dtype)
        x[0, 2, 1, 1] = np.inf
        y = F.lrn(x)
        r = naive.lrn(x)
        _same_nonfinite(y.astype(np.float64), r.astype(np.float64))
        assert np.isnan(y[0, :, 1, 1]).sum() == 1  # the inf map itself: inf * 0
        assert np.isfinite(y[0, 5:, 1, 1]).all()  # beyond the window: untouched
        dy = rng.random(x.shape).astype(dtype)
        g = F.lrn_backward(dy, x)
        rg = naive.lrn_backward(dy, x)
        _same_nonfinite(g.astype(np.float64), rg.astype(np.float64))


@pytest.mark.parametrize("scale", [1e38, 1e154, 1e200, 1e300])
def test_lrn_accurate_at_extremes_float64(scale):
    x = np.random.default_rng(6).random((1, 9, 2, 3)) * scale
    x[0, 4] = 1.0  # a small map among huge ones
    y = F.lrn(x)
    r = naive.lrn(x)  # no OverflowError any more
    np.testing.assert_allclose(y, r, rtol=1e-12, atol=1e-300)
    dy = np.ones_like(x)
    np.testing.assert_allclose(
        F.lrn_backward(dy, x), naive.lrn_backward(dy, x), rtol=1e-9, atol=1e-300
    )


def test_naive_relu_of_nan_is_nan_like_the_kernel():
    x = np.array([[np.nan, -1.0, 2.0]])
    r = naive.activation("relu", x)
    y = F.activation_forward("relu", x)
    np.testing.assert_array_equal(np.isnan(r), [[True, False, False]])
    np.testing.assert_array_equal(np.isnan(y), np.isnan(r))


# ---- 3. crafted files: checked before inflating -------------------------------------------


def _bomb(path, nbytes=2**31, name="a0.npy", extra=None):
    """A small .npz whose one member declares (and holds) ``nbytes`` of zeros, deflated."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (nbytes // 4,)}
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(name, "w", force_zip64=True) as f:
            f.write(header.getvalue())
            zero = bytes(1 << 22)
            for _ in range(nbytes // len(zero)):
                f.write(zero)
        for k, v in (extra or {}).items():
            buf = io.BytesIO()
            np.save(buf, v)
            z.writestr(k + ".npy", buf.getvalue())
    return path


@pytest.fixture(scope="module")
def bomb_file(tmp_path_factory):
    return _bomb(
        tmp_path_factory.mktemp("bomb") / "bomb.npz",
        2**31,
        extra={"meta": np.array(json.dumps({"format": "cnnsim-trace"}))},
    )


def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_trace_bomb_refused_before_inflating(bomb_file):
    from cnnsim.engine import Trace, TraceError

    assert os.path.getsize(bomb_file) < 5e6
    before = _peak_rss_mb()
    with pytest.raises(TraceError, match="over the limit .*--max-load-bytes"):
        Trace.load(bomb_file)
    assert _peak_rss_mb() - before < 500
    res = run_cli(["step", "--load", bomb_file])
    assert_clean_error(res)
    assert "--max-load-bytes" in res.output


def test_checkpoint_bomb_refused_before_inflating(tmp_path):
    from cnnsim import models
    from cnnsim.train.checkpoint import CheckpointError, load_checkpoint

    net = models.build("lenet5")
    p = _bomb(tmp_path / "ck.npz", 2**30, name="param/C1/w.npy")
    before = _peak_rss_mb()
    with pytest.raises(CheckpointError, match="over the limit"):
        load_checkpoint(p, net)
    assert _peak_rss_mb() - before < 300
    res = run_cli(["step", "lenet5", "--checkpoint", p])
    assert_clean_error(res)


def _saved_trace(tmp_path):
    from cnnsim import models
    from cnnsim.engine import record

    net = models.build("lenet5")
    x = np.random.default_rng(0).random((1,) + net.input_shape, dtype=np.float32)
    p = tmp_path / "t.npz"
    record(net, x).save(p)
    return p


def _rewrite(src, dst, meta_fn=None, arrays_fn=None):
    with np.load(src) as z:
        d = {k: z[k] for k in z.files}
    meta = json.loads(str(d.pop("meta")[()]))
    if meta_fn:
        meta_fn(meta)
    if arrays_fn:
        arrays_fn(d, meta)
    np.savez(dst, meta=np.array(json.dumps(meta)), **d)
    return dst


def _tamper_cases():
    esc = "C1\x1b[2J\x1b]0;pwned\x07"

    def step0(f):
        return lambda m: f(m["steps"][0])

    return {
        "stats strings": (step0(lambda s: s.update(stats="abc")), None),
        "stats values strings": (step0(lambda s: s["stats"].update(min="x")), None),
        "timings strings": (step0(lambda s: s.update(seconds="slow")), None),
        "index 10**30": (step0(lambda s: s.update(index=10**30)), None),
        "source 10**30": (step0(lambda s: s.update(sources=[10**30])), None),
        "false output_shape": (step0(lambda s: s.update(output_shape=[7, 7, 7])), None),
        "shape strings": (step0(lambda s: s.update(input_shape="big")), None),
        "steps not a list": (lambda m: m.update(steps=5), None),
        "int64 arrays": (
            None,
            lambda d, m: d.update({k: v.astype(np.int64) for k, v in d.items()}),
        ),
        "smaller arrays": (None, lambda d, m: d.update({k: v.ravel()[:3] for k, v in d.items()})),
        "escape-code name": (step0(lambda s: s.update(name=esc)), None),
        "NUL and 300-char name": (step0(lambda s: s.update(name="a\0" + "b" * 300)), None),
    }


@pytest.mark.parametrize("case", list(_tamper_cases()))
def test_tampered_traces_fail_cleanly_or_show_safely(tmp_path, case):
    src = _saved_trace(tmp_path)
    meta_fn, arrays_fn = _tamper_cases()[case]
    p = _rewrite(src, tmp_path / "bad.npz", meta_fn, arrays_fn)
    plots = tmp_path / "plots"
    res = run_cli(["step", "--load", p, "--plot", plots])
    if case in ("escape-code name", "NUL and 300-char name"):
        assert res.exit_code == 0, res.output
        assert "\x1b" not in res.output and "\0" not in res.output
        for f in os.listdir(plots):
            assert len(f) < 150 and "\x1b" not in f and "\0" not in f and "/" not in f
    else:
        assert_clean_error(res, 2)
        assert "--load" in res.output


def test_tampered_checkpoints_refused(tmp_path):
    from cnnsim import models
    from cnnsim.train import save_checkpoint
    from cnnsim.train.checkpoint import CheckpointError, load_checkpoint

    net = models.build("lenet5")
    good = tmp_path / "good.npz"
    save_checkpoint(good, net, epoch=1)
    with np.load(good) as z:
        base = {k: z[k] for k in z.files}
    key = "param/C1/w"

    def variant(name, **change):
        d = dict(base)
        d.update(change)
        p = tmp_path / f"{name}.npz"
        np.savez(p, **d)
        return p

    w = base[key]
    cases = {
        "list meta": variant("list", meta=np.frombuffer(b"[1, 2]", np.uint8)),
        "string meta": variant("smeta", meta=np.array("hello")),
        "complex": variant("complex", **{key: w.astype(np.complex64) + 1j}),
        "int": variant("int", **{key: w.astype(np.int32)}),
        "nan": variant("nan", **{key: np.full_like(w, np.nan)}),
        "string param": variant("str", **{key: np.array(["a"] * w.size).reshape(w.shape)}),
        "wrong shape": variant("shape", **{key: w[:1]}),
    }
    before = net.find("C1").params["w"].copy()
    for p in cases.values():
        with pytest.raises(CheckpointError):
            load_checkpoint(p, net)
        np.testing.assert_array_equal(net.find("C1").params["w"], before)  # untouched
        assert_clean_error(run_cli(["step", "lenet5", "--checkpoint", p]), 2)
    pobj = tmp_path / "obj.npz"
    d = dict(base)
    np.savez(pobj, **{k: v for k, v in d.items() if k != key})
    with zipfile.ZipFile(pobj, "a") as z:  # an object (pickle) array: never unpickled
        buf = io.BytesIO()
        np.save(buf, np.array([object()] * 2, dtype=object), allow_pickle=True)
        z.writestr(key + ".npy", buf.getvalue())
    with pytest.raises(CheckpointError, match="dtype object"):
        load_checkpoint(pobj, net)


def test_npz_member_smaller_than_its_header_claims(tmp_path):
    from cnnsim.engine import Trace, TraceError

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**6,)}
    )
    p = tmp_path / "short.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a0.npy", header.getvalue() + bytes(12))
        z.writestr("meta.npy", b"")
    with pytest.raises(TraceError, match="claims shape .* but holds"):
        Trace.load(p)


# ---- 4. names from files: safe on terminals and as file names ---------------------------


def test_text_helpers():
    from cnnsim._text import one_line, printable, safe_filename

    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert "\n" not in one_line("a\nb\r\nc")
    for bad in ("../../etc/passwd", "a\0b", "x" * 300, "\x1b]0;t\x07", "", "..", "/"):
        f = safe_filename(bad)
        assert f and "/" not in f and "\0" not in f and len(f) <= 100 and not f.startswith(".")


# ---- 5. the CLI: every bad value one clean line ------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    np.save(d / "empty.npy", np.zeros((0, 0), np.float32))
    np.save(d / "empty3.npy", np.zeros((3, 0), np.float32))
    (d / "afile").write_text("x")
    (d / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    return d


def _bad_invocations(d):
    return [
        ["step", "lenet5", "--seed", "-5"],
        ["step", "lenet5", "--image", d / "empty.npy"],
        ["step", "lenet5", "--image", d / "empty3.npy"],
        ["step", "--load", d / "junk.npz"],
        ["step", "--load", d / "nothere.npz"],
        ["step", "lenet5", "--checkpoint", d / "junk.npz"],
        ["step", "lenet5", "--save", d / "afile" / "t.npz"],
        ["step", "lenet5", "--plot", d / "afile"],
        ["step", "lenet5", "--neuron", "C1:99:0:0"],
        ["step", "nosuchmodel"],
        ["train", "lenet5", "--out", d / "afile" / "sub", "--data", "synthetic"],
        ["train", "lenet5", "--lr", "nan"],
        ["train", "lenet5", "--lr", "-1"],
        ["train", "lenet5", "--lr", "inf"],
        ["train", "lenet5", "--momentum", "5"],
        ["train", "lenet5", "--momentum", "1"],
        ["train", "lenet5", "--lr-step", "-1"],
        ["train", "lenet5", "--weight-decay", "inf"],
        ["train", "lenet5", "--weight-decay", "-0.1"],
        ["train", "lenet5", "--seed", "-1"],
        ["train", "lenet5", "--batch-size", "0"],
        ["train", "lenet5", "--max-load-bytes", "0"],
        ["explain", "conv", "--input", "100000x100000", "--kernel", "3"],
        ["explain", "conv", "--input", "5x7", "--kernel", "9", "--padding", "valid"],
        ["explain", "conv", "--input", "5x7", "--kernel", "0"],
        ["explain", "pool", "--input", "4x4", "--seed", "-3"],
        ["gradflow", "--out", d / "nodir" / "g.png", "--depth", "2"],
        ["gradflow", "--out", d / "x.xyz", "--depth", "2"],
        ["gradflow", "--lr", "nan", "--depth", "2"],
        ["gradflow", "--depth", "200", "--width", "256", "--batch", "4096"],
        ["experiment", "aux-heads", "--width", "0"],
        ["experiment", "aux-heads", "--width", "nan"],
        ["experiment", "aux-heads", "--width", "100", "--input-size", "224", "--batch", "256"],
        ["experiment", "degradation", "--lr", "nan"],
        ["experiment", "degradation", "--width", "-1"],
        ["experiment", "degradation", "--out", d / "nodir" / "x.png"],
        ["data", "download", "mnist", "--timeout", "-1"],
        ["data", "download", "mnist", "--timeout", "nan"],
        ["summary", "nosuchmodel"],
        ["bench", "--nosuchoption"],
    ]


def test_cli_sweep_every_bad_value_is_one_clean_line(files):
    fails = []
    for args in _bad_invocations(files):
        res = run_cli(args)
        try:
            assert_clean_error(res)
        except AssertionError as e:
            fails.append(f"{args}: {e}")
    assert not fails, "\n".join(fails)


def test_cli_memory_estimate_names_the_options(files):
    res = run_cli(["gradflow", "--depth", "200", "--width", "256", "--batch", "4096"])
    assert_clean_error(res, 2)
    assert "--depth, --width or --batch" in res.output and "GiB" in res.output


def test_read_only_output_folders():
    """8 commands into a folder the user cannot write: one clean line each, before work.
    Run as a separate process; when the tests run as root (who ignores folder permissions
    through CAP_DAC_OVERRIDE), as root without that capability: still the owner of a
    private checkout (a clone in ``mktemp -d``, mode 0700, which user nobody could not
    even import from), but bound by the read-only folder's mode."""
    import shutil
    import tempfile

    prefix = without_dac_override()
    top = tempfile.mkdtemp(prefix="cnnsim-ro-")
    try:
        os.chmod(top, 0o755)
        ro = os.path.join(top, "ro")
        os.mkdir(ro)
        os.chmod(ro, 0o555)
        home = os.path.join(top, "home")  # writable: numba's and matplotlib's caches
        os.mkdir(home)
        os.chmod(home, 0o777)
        env = child_env(HOME=home, MPLCONFIGDIR=home, NUMBA_CACHE_DIR=home)
        cases = [
            ["train", "lenet5", "--data", "synthetic", "--limit", "20", "--out", ro],
            ["train", "lenet5", "--out", os.path.join(ro, "sub")],
            ["step", "lenet5", "--save", os.path.join(ro, "t.npz")],
            ["step", "lenet5", "--plot", os.path.join(ro, "p")],
            ["gradflow", "--depth", "2", "--out", os.path.join(ro, "g.png")],
            ["experiment", "degradation", "--out", os.path.join(ro, "d.png")],
            [*"explain conv --input 5x7 --kernel 3 --out".split(), os.path.join(ro, "e.png")],
            ["explain", "pool", "--input", "4x4", "--gif", os.path.join(ro, "p.gif")],
        ]
        for args in cases:
            r = subprocess.run(
                prefix
                + [
                    sys.executable,
                    "-c",
                    "import sys; from cnnsim.cli.main import cli; cli(sys.argv[1:])",
                ]
                + args,
                capture_output=True,
                text=True,
                env=env,
                cwd=top,
                timeout=600,
                check=False,
            )
            assert r.returncode == 2, (args, r.stderr)
            assert (
                "Traceback" not in r.stderr
                and "not writable" in r.stderr
                or "permission denied" in r.stderr
            ), (args, r.stderr)
            assert os.listdir(ro) == []
    finally:
        os.chmod(os.path.join(top, "ro"), 0o755)
        shutil.rmtree(top, ignore_errors=True)


# ---- 8. divergence, option ranges -------------------------------------------------------


def test_optimizer_settings_validated_in_one_place():
    from cnnsim.train import SGD, Adam, make_optimizer

    for bad in (
        dict(lr=float("nan")),
        dict(lr=-1),
        dict(lr=0),
        dict(lr=float("inf")),
        dict(lr=0.1, momentum=5),
        dict(lr=0.1, momentum=1.0),
        dict(lr=0.1, weight_decay=float("inf")),
        dict(lr=0.1, weight_decay=-1),
    ):
        with pytest.raises(ValueError):
            SGD(**bad)
    with pytest.raises(ValueError):
        Adam(lr=float("nan"))
    with pytest.raises(ValueError):
        make_optimizer("sgd", 0.1, 0.9, float("nan"))


def test_divergence_guard_runs_after_the_last_update(tmp_path):
    """A huge learning rate makes the LAST update of an epoch overflow: the run must stop
    with TrainingDiverged and never save non-finite weights."""
    from cnnsim import models
    from cnnsim.train import SGD, Trainer, TrainingDiverged

    net = models.build("lenet5")
    x = np.random.default_rng(0).random((8,) + net.input_shape, dtype=np.float32)
    y = np.arange(8) % 10

    class Overflowing(SGD):  # an update that overflows (as lr=nan or wd=inf did)
        def _update(self, key, p, g):
            super()._update(key, p, g)
            if key == "F6.w":
                p[0, 0] = np.inf

    opt = Overflowing(0.01, momentum=0.0)
    tr = Trainer(net, opt, batch_size=8, out_dir=str(tmp_path), progress=False)
    with pytest.raises(TrainingDiverged, match="non-finite"):
        tr.fit((x, y), None, epochs=1)
    assert not (tmp_path / "checkpoint.npz").exists()


# ---- 10. big-endian arrays ---------------------------------------------------------------


def test_big_endian_arrays_are_converted():
    rng = np.random.default_rng(7)
    x = rng.random((1, 2, 6, 6))
    w = rng.random((3, 2, 3, 3))
    ref = F.conv2d(x, w)
    np.testing.assert_array_equal(F.conv2d(x.astype(">f8"), w), ref)
    np.testing.assert_array_equal(F.conv2d(x.astype(">f8"), w.astype(">f8")), ref)
    y32 = F.conv2d(x.astype(">f4"), w.astype(np.float32))
    assert y32.dtype == np.float32
    assert F.max_pool2d(x.astype(">f4")).dtype == np.float32
    assert F.lrn(x.astype(">f8")).shape == x.shape


# ---- 11. layer constructors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: L.Conv2D(0, 3),
        lambda: L.Conv2D(-1, 3),
        lambda: L.Conv2D(4, 3, groups=0),
        lambda: L.Conv2D(4, 3, groups=-2),
        lambda: L.Conv2D(4, 0),
        lambda: L.Conv2D(4, 3, stride=0),
        lambda: L.Dense(0),
        lambda: L.Dense(2.5),
        lambda: L.Dense(-3),
        lambda: L.Sequential([]),
        lambda: L.MaxPool2D(0),
        lambda: L.Conv2D(2.5, 3),
    ],
)
def test_layer_constructors_refuse_nonsense(make):
    with pytest.raises((ValueError, TypeError)) as e:
        make()
    assert "\n" not in str(e.value)


def test_backprop_before_forward_and_empty_batch():
    from cnnsim.layers.base import LayerError

    net = L.Sequential([L.Conv2D(2, 3), L.Flatten(), L.Dense(3)], input_shape=(1, 6, 6))
    with pytest.raises(LayerError, match="before any forward"):
        net.backprop(np.ones((1, 3), np.float32))
    with pytest.raises(LayerError, match="empty"):
        net(np.zeros((0, 1, 6, 6), np.float32))
    with pytest.raises(LayerError, match="empty"):
        L.Flatten()(np.zeros((0, 2, 2, 2), np.float32))


# ---- 12. downloads -----------------------------------------------------------------------


def test_download_names_confined_and_timeout_validated(tmp_path):
    from cnnsim.data.download import download

    for bad in ("../x", "/etc/x", "a/b", "..", ".hidden", "a\0b"):
        with pytest.raises(ValueError, match="plain names"):
            download(
                "mnist", data_dir=tmp_path, mirror="http://127.0.0.1:9/", files={bad: "0" * 32}
            )
    for t in (-1, float("nan"), 0, float("inf")):
        with pytest.raises(ValueError, match="timeout"):
            download(
                "mnist",
                data_dir=tmp_path,
                mirror="http://127.0.0.1:9/",
                files={"a.gz": "0" * 32},
                timeout=t,
            )
    assert not (tmp_path.parent / "x").exists()


@pytest.fixture
def trickle_server():
    """A local server that sends 1 byte every 0.2 s, up to 10**6 bytes."""
    import http.server
    import threading

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(10**6):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_timeout_is_total_and_bad_file_really_discarded(tmp_path, trickle_server):
    from cnnsim.data.download import DownloadError, download

    folder = tmp_path / "mnist"
    folder.mkdir()
    bad = folder / "a.gz"
    bad.write_bytes(b"not the right file")
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="timed out"):
        download(
            "mnist", data_dir=tmp_path, mirror=trickle_server, files={"a.gz": "0" * 32}, timeout=1.0
        )
    assert time.monotonic() - t0 < 20  # a per-read timeout would run 55 hours
    assert not bad.exists()  # "(file discarded)" is true now
    assert not [n for n in os.listdir(folder) if n.endswith(".part")]


def test_download_size_cap(tmp_path, trickle_server, monkeypatch):
    import importlib

    D = importlib.import_module("cnnsim.data.download")  # the package re-exports download()
    monkeypatch.setattr(D, "MAX_FILE_BYTES", 5)
    with pytest.raises(D.DownloadError, match="more than 5 bytes"):
        D.download(
            "mnist", data_dir=tmp_path, mirror=trickle_server, files={"a.gz": "0" * 32}, timeout=30
        )


def test_builtin_mirrors_are_https():
    from cnnsim.data.download import MIRRORS

    assert all(u.startswith("https://") for us in MIRRORS.values() for u in us)


# ---- 13. debris ----------------------------------------------------------------------------


def test_stale_part_files_cleaned_live_ones_kept(tmp_path):
    from cnnsim._atomic import atomic_path

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale = tmp_path / f".cnnsim-{dead}-abc.npz.part"
    stale.write_bytes(b"x" * 100)
    live = tmp_path / f".cnnsim-{os.getppid()}-abc.npz.part"  # a running process
    live.write_bytes(b"x")
    other = tmp_path / "keep.part"
    other.write_bytes(b"x")
    import cnnsim._atomic as A

    A._cleaned.discard(str(tmp_path))
    with atomic_path(tmp_path / "f.txt") as tmp:
        open(tmp, "w").write("ok")
    assert not stale.exists() and live.exists() and other.exists()
    assert (tmp_path / "f.txt").read_text() == "ok"


KILL_SCRIPT = r"""
import sys, time, numpy as np
import cnnsim._atomic as A
path = sys.argv[1]
orig = np.savez
def slow(f, **kw):
    orig(f, **kw)
    f.flush()
    print("WRITING", flush=True)
    time.sleep(60)
np.savez = slow
if sys.argv[2] == "train":
    from cnnsim.cli.main import cli
    cli(["train", "lenet5", "--data", "synthetic", "--limit", "16", "--test-limit", "10",
         "--epochs", "1", "--batch-size", "16", "--quiet", "--out", path])
else:
    from cnnsim.cli.main import cli
    cli(["step", "lenet5", "--save", path])
"""


@pytest.mark.parametrize("what", ["train", "step"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_kill_during_write_keeps_the_old_file_and_leaves_no_part(tmp_path, what, sig):
    env = child_env()
    if what == "train":
        out = tmp_path / "run"
        args = [
            *(
                "train lenet5 --data synthetic --limit 16 --test-limit 10 "
                "--epochs 1 --batch-size 16 --quiet --out"
            ).split(),
            out,
        ]
        target = out / "checkpoint.npz"
    else:
        out = tmp_path / "t.npz"
        args = ["step", "lenet5", "--save", out]
        target = out
    assert run_cli(args).exit_code == 0
    old = target.read_bytes()
    p = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(out), what],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        seen = []
        for line in p.stdout:
            seen.append(line)
            if "WRITING" in line:
                break
        assert "WRITING" in "".join(seen), "".join(seen) + p.stderr.read()
        folder = target.parent
        assert any(n.endswith(".part") for n in os.listdir(folder))
        p.send_signal(sig)
        p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
    assert target.read_bytes() == old  # the old file intact
    if sig == signal.SIGTERM:  # the handler cleaned up
        assert not [n for n in os.listdir(target.parent) if n.endswith(".part")]
    nxt = subprocess.run(
        [sys.executable, "-c", "import sys; from cnnsim.cli.main import cli; cli(sys.argv[1:])"]
        + [str(a) for a in args],
        env=env,
        capture_output=True,
        text=True,
    )
    assert nxt.returncode == 0, nxt.stderr  # the next start cleans up
    assert not [n for n in os.listdir(target.parent) if n.endswith(".part")]


# ---- 7. one writer per --out; 14. --resume to the same total ------------------------------

TRAIN = ("train lenet5 --data synthetic --limit 16 --test-limit 10 --batch-size 16 --quiet").split()


def test_second_writer_refused(tmp_path):
    from cnnsim._lock import FolderBusy, FolderLock

    out = tmp_path / "run"
    out.mkdir()
    with FolderLock(str(out), "cnnsim train"):
        res = run_cli(TRAIN + ["--epochs", "1", "--out", out])
        assert_clean_error(res, 1)
        assert "another cnnsim train" in res.output
        with pytest.raises(FolderBusy):
            FolderLock(str(out)).__enter__()
    assert run_cli(TRAIN + ["--epochs", "1", "--out", out]).exit_code == 0
    json.loads((out / "metrics.json").read_text())


def test_resume_continues_to_the_same_total(tmp_path):
    out = tmp_path / "run"
    assert run_cli(TRAIN + ["--epochs", "1", "--out", out]).exit_code == 0
    res = run_cli(TRAIN + ["--epochs", "2", "--out", out, "--resume"])
    assert res.exit_code == 0, res.output
    h = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in h["epochs"]] == [1, 2]
    res = run_cli(TRAIN + ["--epochs", "2", "--out", out, "--resume"])
    assert res.exit_code == 0 and "nothing to train" in res.output
    h = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in h["epochs"]] == [1, 2]


# ---- 5. fuzz: hypothesis over option values, the bad ones included --------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402  (the fuzz section)
from hypothesis import strategies as st  # noqa: E402

NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "nan",
            "inf",
            "-inf",
            "1e400",
            "0",
            "-0",
            "",
            " ",
            "abc",
            "1x2",
            "5x",
            "x5",
            "0x0",
            "3x0",
            "-1x3",
            "2**32",
            "1,2,3",
            "\x1b[2J",
            "\0",
        ]
    ),
    st.text(max_size=8),
)


def _assert_never_traceback(res):
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code in (0, 1, 2), res.output
    if res.exit_code:
        assert len([l for l in res.output.splitlines() if l.startswith("Error")]) == 1, res.output


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(inp=NUMBERS, kernel=NUMBERS, stride=NUMBERS, padding=NUMBERS)
def test_fuzz_explain_conv_options(inp, kernel, stride, padding):
    res = run_cli(
        [
            "explain",
            "conv",
            "--input",
            inp,
            "--kernel",
            kernel,
            "--stride",
            stride,
            "--padding",
            padding,
            "--no-plot",
            "--json",
        ]
    )
    _assert_never_traceback(res)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    opt=st.sampled_from(
        (
            "--lr --momentum --weight-decay --lr-step --seed --epochs "
            "--batch-size --limit --max-load-bytes"
        ).split()
    ),
    value=NUMBERS,
)
def test_fuzz_train_options(tmp_path_factory, opt, value):
    # the data folder is empty: a run whose options pass validation stops at the data
    # (exit 1), so no example trains
    d = tmp_path_factory.mktemp("fuzz")
    res = run_cli(
        [
            "train",
            "lenet5",
            "--data",
            "mnist",
            "--data-dir",
            d / "nodata",
            "--out",
            d / "out",
            opt,
            value,
        ]
    )
    _assert_never_traceback(res)
    assert res.exit_code != 0


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    opt=st.sampled_from(["--lr", "--width", "--depth", "--batch", "--seed", "--steps"]),
    value=NUMBERS,
)
def test_fuzz_gradflow_options(tmp_path_factory, opt, value):
    # --out into a missing folder: options that pass validation stop there, before work
    d = tmp_path_factory.mktemp("fuzzg")
    res = run_cli(["gradflow", "--out", d / "nodir" / "g.png", "--depth", "2", opt, value])
    _assert_never_traceback(res)
    assert res.exit_code != 0
