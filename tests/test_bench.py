"""``cnnsim bench`` smoke run on a toy size (no timing assertions: speed is not tested)."""

import json

from click.testing import CliRunner

from cnnsim.cli.main import cli


def test_bench_quick_json_lenet_c3():
    res = CliRunner().invoke(
        cli, ["bench", "--quick", "--json", "--only", "lenet_c3", "--repeat", "1"]
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["env"]["threads"] >= 1 and rep["env"]["cpu"]
    (row,) = rep["rows"]
    assert row["name"] == "lenet_c3" and row["status"] == "ok" and row["batch"] == 1
    assert row["forward_s"]["cnnsim"] > 0 and row["forward_backward_s"]["numpy_im2col"] > 0
    assert row["naive"]["speedup"] > 0 and "extrapolated" in row["naive"]["label"]
    if row["torch"] == "ok":
        assert row["ratio_forward_backward"] > 0
    else:
        assert row["torch"] == "skipped (torch not installed)"
    for name, val in rep["extensions"].items():
        assert isinstance(val, (str, dict)), name


def test_bench_table_and_unknown_layer():
    res = CliRunner().invoke(cli, ["bench", "--quick", "--only", "avg_2x2"])
    assert res.exit_code == 0, res.output
    assert "avg_2x2" in res.output and "threads" in res.output
    bad = CliRunner().invoke(cli, ["bench", "--only", "nosuchlayer"])
    assert bad.exit_code == 2 and "no layer matches" in bad.output


def test_im2col_baseline_matches_cnnsim(rng):
    import numpy as np

    from cnnsim import functional as F
    from cnnsim.bench import baselines

    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    pads = (1, 1, 1, 1)
    y, cols = baselines.im2col_conv(x, w, b, 2, pads)
    np.testing.assert_allclose(y, F.conv2d(x, w, b, 2, pads), atol=1e-10)
    dy = rng.standard_normal(y.shape)
    for got, want in zip(
        baselines.im2col_conv_backward(dy, cols, x.shape, w, 2, pads),
        F.conv2d_backward(dy, x, w, 2, pads),
    ):
        np.testing.assert_allclose(got, want, atol=1e-10)


def test_whole_model_rows_selected_by_only(monkeypatch):
    from cnnsim.bench import run as brun

    calls = []
    for name in brun.EXTENSIONS:
        monkeypatch.setitem(
            brun.EXTENSIONS, name, lambda t, r, q, name=name: calls.append(name) or {"ok": name}
        )
    rep = brun.run_bench(only="lenet5_training", is_quick=True)
    assert rep["rows"] == [] and calls == ["lenet5_training_throughput"]
    assert rep["extensions"]["step_lenet5_start"].startswith("skipped")


def test_training_worker_steps_lenet5():
    from cnnsim.bench.extensions import train_worker

    assert train_worker("cnnsim", 1, 1) > 0


def test_round_robin_alternates_cnnsim_and_torch_and_times_baselines_apart(monkeypatch):
    """The pairs first (one warm-up each, then alternated), then each baseline with its
    own warm-up: a baseline never runs before a timed pair (OpenBLAS's threads spin for
    a while after a call and slowed both sides 2-4x)."""
    from cnnsim.bench import run

    monkeypatch.setattr(run, "SETTLE_S", 0.0)
    calls = []
    fns = {k: (lambda k=k: calls.append(k)) for k in ("cnnsim", "numpy_im2col", "torch")}
    times = run._time_round_robin(fns, 3)
    assert set(times) == set(fns) and all(t >= 0 for t in times.values())
    assert calls == ["cnnsim", "torch"] * 4 + ["numpy_im2col"] * 4


def test_dispatch_reads_no_load_average():
    """Serial or parallel is decided by the call's size alone (issue 20, item 4): nothing in
    the library reads the machine's load, and the bench changes no dispatch setting."""
    import pathlib

    import cnnsim

    root = pathlib.Path(cnnsim.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "getloadavg" not in text and "serial_work_shared" not in text, path


def test_benchmarks_live_only_in_bench_and_run_and_extensions_do_not_import_each_other():
    import ast
    import pathlib

    import cnnsim

    root = pathlib.Path(cnnsim.__file__).parent

    def imports(path):
        mods = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                mods.add(base)
                mods.update(
                    f"{base}.{a.name}" if node.module else base + a.name for a in node.names
                )
            elif isinstance(node, ast.Import):
                mods.update(a.name for a in node.names)
        return mods

    # run.py imports the measurements; they never import run.py (no circle)
    assert not any(m.split(".")[-1] == "run" for m in imports(root / "bench" / "extensions.py"))
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        assert path.name != "bench.py", f"{rel}: benchmarks live in cnnsim/bench/"
        if rel.parts[0] not in ("bench", "cli"):
            assert not any("bench" in m.split(".") for m in imports(path)), (
                f"{rel} imports the bench (a layer above it)"
            )


def test_vector_width_is_read_from_the_generated_code_and_bad_settings_fail():
    import pytest

    from cnnsim.bench import peak
    from cnnsim.kernels import use_vector_width

    vw = peak.vector_width()
    assert vw["bits"] in (128, 256, 512) and vw["why"]
    with pytest.raises(ValueError, match="config.vector_width"):
        use_vector_width("1024")


def test_peaks_keep_the_better_of_the_measurements_before_and_after_the_rows(monkeypatch):
    """A peak measured while the machine was busy must not make rows exceed 100 % of it:
    the bench measures before and after its rows and keeps the better of each figure."""
    from cnnsim.bench import peak

    first = {"fma_gflops": 90.0, "simd_fma_gflops": 117.0, "sgemm_gflops": 195.0}
    monkeypatch.setattr(peak, "fma_peak", lambda t: 200.0)
    monkeypatch.setattr(peak, "simd_fma_peak", lambda t: 230.0)
    monkeypatch.setattr(peak, "sgemm_peak", lambda: 104.0)
    pk = peak.peaks(2, before=first)
    assert (pk["fma_gflops"], pk["simd_fma_gflops"], pk["sgemm_gflops"]) == (200.0, 230.0, 195.0)
    assert pk["peak_gflops"] == 230.0


def test_auto_vector_width_compiles_256_bit_loops_on_every_avx512_cpu():
    """LLVM's own choice differs between vendors (Intel: 256-bit loops, Zen 4: 512-bit), and
    with it the order of the weight gradient's reordered sums: a training run gave other
    numbers on each. With "auto" the kernels compile 256-bit loops on any AVX-512 CPU."""
    import os

    import llvmlite.binding as ll
    import pytest
    from numba.core import config as nconfig

    from cnnsim import config
    from cnnsim.bench import peak

    if not ll.get_host_cpu_features().get("avx512f", False):
        pytest.skip("this CPU has no AVX-512: LLVM's loops are 256-bit at most anyway")
    if os.environ.get("NUMBA_CPU_FEATURES") or config.vector_width == "512":
        pytest.skip("NUMBA_CPU_FEATURES or vector_width = 512 set: not the default")
    assert nconfig.CPU_FEATURES.endswith(",+prefer-256-bit")
    assert peak.vector_width()["bits"] == 256


def test_numba_floor_times_a_script_that_loads_one_cached_function():
    """The scale printed beside the warm start of ``cnnsim step lenet5``: a fresh process
    that imports Numba and calls one cached ``@njit`` function (cache filled first)."""
    import os

    from cnnsim.bench.extensions import numba_floor

    cpu_s = numba_floor(dict(os.environ), 1)
    assert 0.0 < cpu_s < 60.0


def test_trace_overhead_is_the_median_of_alternated_pairs(monkeypatch):
    """The trace-overhead figure (issue 20's target) is the median paired difference over
    the median plain call. A clock on which each trace takes 0.1 s more than the plain call
    before it while the machine's speed swings from pair to pair gives exactly 10 %; the
    best of each (the measure before) would give 0.9 / 0.8 - 1 = 12.5 %."""
    import types

    import numpy as np

    from cnnsim import models
    from cnnsim.bench import trace_cost

    plain = [1.0, 1.2, 0.8, 1.0, 3.0]
    ticks = iter([t for p in plain for t in (0.0, p, 0.0, p + 0.1)])
    net = models.build("lenet5")
    x = np.zeros((1, 1, 32, 32), np.float32)
    net(x)
    clock = types.SimpleNamespace(perf_counter=lambda: next(ticks))  # trace_cost's clock only
    monkeypatch.setattr(trace_cost, "time", clock)
    r = trace_cost.overhead(net, x, repeats=5)
    assert r["pairs"] == 5 and r["plain_s"] == 1.0 and abs(r["traced_s"] - 1.1) < 1e-12
    assert abs(r["overhead"] - 0.1) < 1e-12
    assert r["best_plain_s"] == 0.8 and r["best_traced_s"] == 0.9
    assert r["overhead_quartiles"][0] <= r["overhead_quartiles"][1]


def test_pytorch_computes_the_same_layer_and_sees_the_shared_padding_as_padding(monkeypatch):
    """The bench's PyTorch closures (what every ratio divides by) compute each lecture
    layer as cnnsim does, forward and all gradients, and get symmetric padding as
    conv2d's own ``padding`` (pre-padding the input with F.pad made PyTorch do 2-11 %
    more work); SAME's asymmetric padding (AlexNet C1: 3 and 4) is padded apart."""
    import numpy as np
    import pytest

    torch = pytest.importorskip("torch", reason="torch is in the test extra")
    from cnnsim.bench import cases, run

    byname = {c.name: c for c in cases.CONV_CASES}
    assert byname["alexnet_c1"].torch_padding() == ((0, 0), (3, 4, 3, 4))
    assert byname["alexnet_c3"].torch_padding() == ((2, 2), (0, 0, 0, 0))
    assert byname["lenet_c3"].torch_padding() == ((0, 0), (0, 0, 0, 0))

    seen = []
    real_conv2d, real_pad = torch.nn.functional.conv2d, torch.nn.functional.pad
    monkeypatch.setattr(
        torch.nn.functional, "conv2d", lambda *a: seen.append(("conv2d", a[4])) or real_conv2d(*a)
    )
    monkeypatch.setattr(
        torch.nn.functional, "pad", lambda x, p: seen.append(("pad", p)) or real_pad(x, p)
    )
    for case in cases.CONV_CASES:
        case = cases.quick(case)
        if case.name == "alexnet_c1":  # a smaller image, the same odd SAME geometry
            case = cases.replace(case, h=34, w=34)  # pads 4 and 5
        seen.clear()
        fwd, fb = run._conv_impls(case, np.random.default_rng(1), torch)
        both, extra = case.torch_padding()
        y = fwd["torch"]().numpy()
        assert seen == ([("pad", extra)] if any(extra) else []) + [("conv2d", both)], case.name
        np.testing.assert_allclose(y, fwd["cnnsim"](), atol=2e-4)
        for got, want in zip(fb["torch"](), fb["cnnsim"](), strict=True):
            np.testing.assert_allclose(got.numpy(), want, rtol=2e-4, atol=2e-3)
