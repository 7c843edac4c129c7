"""Run the benchmark: median times of cnnsim and its baselines, interleaved in one process.

Method: every implementation of a row is warmed up once (JIT compile, caches), then cnnsim
and PyTorch are timed round-robin ``repeat`` times (so machine noise hits both alike), the
NumPy baseline apart (see ``_time_round_robin``), and the median is kept. Ratios are cnnsim time / PyTorch time (lower is better).
Returns plain data (dicts, lists, floats); the CLI formats it.
"""

import datetime
import os
import platform
import time

import numpy as np

from .. import functional as F
from ..testing import naive
from . import baselines, extensions, peak
from .cases import ConvCase, select

SKIP_TORCH = "skipped (torch not installed)"
SKIP_MISSING = "skipped (not available)"

# Whole-model rows (``cnnsim.bench.extensions``): ``fn(threads, repeat, is_quick) -> dict``.
# They run when ``only`` is None or part of their name (``--only lenet5_training``).
# run.py imports the measurements; they never import run.py (no circle).
EXTENSIONS = {
    "lenet5_training_throughput": extensions.training_throughput,  # images/s, batch 64, vs PyTorch
    "googlenet_fwd_bwd": extensions.googlenet_fwd_bwd,  # batch 8 at 224, vs torchvision
    "resnet18_fwd_bwd": extensions.resnet18_fwd_bwd,  # batch 8 at 224, vs torchvision
    "trace_overhead": extensions.trace_overhead,  # full trace vs plain forward
    "step_lenet5_start": extensions.step_start,  # warm and cold start of `cnnsim step lenet5`
    "alexnet_trace_peak_memory": extensions.trace_peak_memory,  # peak memory, AlexNet trace
}


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (or platform's guess elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(threads):
    import numba

    from ..kernels import MEMORY_WHY

    torch = baselines.torch_module()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "torch": torch.__version__ if torch else None,
        "blas": baselines.blas_info(),
        "memory": MEMORY_WHY,
        # older OpenBLAS builds need these on some machines; they slow current NumPy's BLAS,
        # so the im2col baseline should be read with them in mind
        "openblas_env": {
            k: os.environ[k]
            for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")
            if k in os.environ
        },
    }


PAIRED = ("cnnsim", "torch")  # the two implementations whose ratio is reported
SETTLE_S = 0.2  # > OpenBLAS's and the OpenMP pools' spin after a call (~0.1 s)


def _time_round_robin(fns, repeat):
    """``{name: fn}`` -> ``{name: median seconds}``: one warm-up each; cnnsim and PyTorch
    are timed round-robin (alternating, so machine noise hits both alike), then every
    other baseline on its own. Why apart: NumPy's OpenBLAS threads keep spinning for a
    while after a matrix product, and timed right after it cnnsim and PyTorch both ran
    2-4x slower on this 2-core machine (LeNet-5 C3); the baselines are for scale, not
    for the ratio. So a baseline's warm-up, too, comes after the paired timings: OpenBLAS
    threads spin for up to ~0.1 s after a call, and one warm-up right before the pairs
    made LeNet-5 C3's fwd+bwd 5.8 ms instead of 1.4 (ratio 2.86 instead of 0.7-0.9). The
    previous row's baselines spin likewise, hence a pause of ``SETTLE_S`` first (the
    warm-up calls then wake the cores again)."""
    times = {k: [] for k in fns}
    paired = [k for k in PAIRED if k in fns]
    time.sleep(SETTLE_S)
    for k in paired:
        fns[k]()
    for _ in range(repeat):
        for k in paired:
            _time_into(fns[k], times[k])
    for k, fn in fns.items():
        if k not in paired:
            fn()
            for _ in range(repeat):
                _time_into(fn, times[k])
    return {k: float(np.median(v)) for k, v in times.items()}


def _time_into(fn, out):
    t0 = time.perf_counter()
    fn()
    out.append(time.perf_counter() - t0)


def _conv_impls(case, rng, torch):
    x = rng.standard_normal((case.n, case.c, case.h, case.w)).astype(np.float32)
    w = (rng.standard_normal((case.f, case.c, case.k, case.k)) * 0.1).astype(np.float32)
    b = rng.standard_normal(case.f).astype(np.float32)
    win = case.window()
    dy = rng.standard_normal((case.n, case.f) + win.out_hw).astype(np.float32)
    s, pad = case.s, case.padding

    def cn_fb():  # as a training step (Conv2D) runs it: dw reads the forward's layout of x
        _, saved = F.conv2d(x, w, b, s, pad, save=True)
        return F.conv2d_backward(dy, x, w, s, pad, saved=saved)

    def np_fb():
        _, cols = baselines.im2col_conv(x, w, b, s, win.pads)
        baselines.im2col_conv_backward(dy, cols, x.shape, w, s, win.pads)

    fwd = {
        "cnnsim": lambda: F.conv2d(x, w, b, s, pad),
        "numpy_im2col": lambda: baselines.im2col_conv(x, w, b, s, win.pads),
    }
    fb = {"cnnsim": cn_fb, "numpy_im2col": np_fb}
    if torch is not None:
        fwd["torch"], fb["torch"] = _torch_conv(torch, x, w, b, dy, s, case.torch_padding())
    return fwd, fb


def _torch_conv(torch, x, w, b, dy, s, padding):
    """PyTorch's forward and forward+backward closures; ``padding`` as
    ``ConvCase.torch_padding`` gives it."""
    tf = torch.nn.functional
    both, extra = padding
    tx, tw, tb, tdy = (torch.from_numpy(a.copy()) for a in (x, w, b, dy))
    for p in (tx, tw, tb):
        p.requires_grad_(True)

    def run():
        xin = tf.pad(tx, extra) if any(extra) else tx
        return tf.conv2d(xin, tw, tb, s, both)

    def fwd():
        with torch.no_grad():
            return run()

    def fb():
        return torch.autograd.grad(run(), (tx, tw, tb), tdy)

    return fwd, fb


def _pool_impls(case, rng, torch):
    x = rng.standard_normal((case.n, case.c, case.h, case.w)).astype(np.float32)
    if case.op == "lrn":
        y = F.lrn(x, case.size)
        dy = np.ones_like(y)
        cn_f = lambda: F.lrn(x, case.size)
        cn_b = lambda: F.lrn_backward(dy, x, case.size)
    else:
        fwd_fn = F.max_pool2d if case.op == "max" else F.avg_pool2d
        bwd_fn = F.max_pool2d_backward if case.op == "max" else F.avg_pool2d_backward
        y = fwd_fn(x, case.size, case.stride)
        dy = np.ones_like(y)
        cn_f = lambda: fwd_fn(x, case.size, case.stride)
        cn_b = lambda: bwd_fn(dy, x, case.size, case.stride)

    def cn_fb():
        cn_f()
        cn_b()

    fwd, fb = {"cnnsim": cn_f}, {"cnnsim": cn_fb}
    if torch is not None:
        tf = torch.nn.functional
        tx, tdy = torch.from_numpy(x.copy()).requires_grad_(True), torch.from_numpy(dy)
        if case.op == "max":
            op = lambda: tf.max_pool2d(tx, case.size, case.stride)
        elif case.op == "avg":
            op = lambda: tf.avg_pool2d(tx, case.size, case.stride)
        else:  # cnnsim's alpha is per term; PyTorch divides by size: alpha_torch = alpha*r
            op = lambda: tf.local_response_norm(
                tx, case.size, alpha=1e-4 * case.size, beta=0.75, k=2.0
            )

        def t_fwd():
            with torch.no_grad():
                op()

        fwd["torch"] = t_fwd
        fb["torch"] = lambda: torch.autograd.grad(op(), (tx,), tdy)
    return fwd, fb


def _naive_per_image(case, rng, cn_fb_per_image):
    """Slow reference at ``case.naive_batch`` images, per image, and cnnsim's speed-up."""
    nb = case.naive_batch
    x = rng.standard_normal((nb, case.c, case.h, case.w))
    w = rng.standard_normal((case.f, case.c, case.k, case.k))
    b = rng.standard_normal(case.f)
    t0 = time.perf_counter()
    y = naive.conv2d(x, w, b, case.s, case.padding)
    t1 = time.perf_counter()
    naive.conv2d_backward(np.ones_like(y), x, w, case.s, case.padding)
    t2 = time.perf_counter()
    fb = (t2 - t0) / nb
    return {
        "label": f"slow reference, measured at batch {nb}, per image (extrapolated)",
        "forward_per_image_s": (t1 - t0) / nb,
        "forward_backward_per_image_s": fb,
        "cnnsim_forward_backward_per_image_s": cn_fb_per_image,
        "speedup": fb / cn_fb_per_image if cn_fb_per_image > 0 else None,
    }


def _available_pool_ops():
    return all(
        hasattr(F, n)
        for n in (
            "max_pool2d",
            "max_pool2d_backward",
            "avg_pool2d",
            "avg_pool2d_backward",
            "lrn",
            "lrn_backward",
        )
    )


def bench_case(case, repeat, torch, rng):
    """One row: medians of forward and forward+backward per implementation, plus derived."""
    row = {
        "name": case.name,
        "title": case.title,
        "kind": case.kind,
        "batch": case.n,
        "target_ratio": case.target,
    }
    if case.kind != "conv" and not _available_pool_ops():
        row["status"] = SKIP_MISSING
        return row
    impls = (
        _conv_impls(case, rng, torch)
        if isinstance(case, ConvCase)
        else _pool_impls(case, rng, torch)
    )
    fwd = _time_round_robin(impls[0], repeat)
    fb = _time_round_robin(impls[1], repeat)
    row["status"] = "ok"
    row["forward_s"] = fwd
    row["forward_backward_s"] = fb
    row["torch"] = "ok" if torch is not None else SKIP_TORCH
    if isinstance(case, ConvCase):
        fl = case.flops_forward()
        row["gflop_forward"] = fl / 1e9
        row["gflops"] = {
            k: {"forward": fl / fwd[k] / 1e9, "forward_backward": 3 * fl / fb[k] / 1e9} for k in fwd
        }
        if case.naive_batch:
            row["naive"] = _naive_per_image(case, rng, fb["cnnsim"] / case.n)
    if torch is not None:
        row["ratio_forward"] = fwd["cnnsim"] / fwd["torch"]
        row["ratio_forward_backward"] = fb["cnnsim"] / fb["torch"]
        if case.target is not None:
            row["meets_target"] = row["ratio_forward_backward"] <= case.target
    return row


def run_bench(only=None, is_quick=False, repeat=None, threads=2, seed=0):
    """Benchmark every selected layer; returns ``{"env": ..., "rows": [...], "extensions": ...}``.

    ``threads`` is applied to Numba and PyTorch alike (clipped to what Numba allows).
    """
    import numba

    ext_names = [n for n in EXTENSIONS if only is None or only in n]
    try:
        cases = select(only, is_quick)
    except ValueError:
        if not ext_names:
            raise
        cases = []
    threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(threads)
    torch = baselines.torch_module()
    if torch is not None:
        torch.set_num_threads(threads)
    if repeat is None:
        repeat = 1 if is_quick else 7
    rng = np.random.default_rng(seed)
    pk = peak.peaks(threads)  # before and after the rows: the header, each row's share
    rows = [bench_case(c, repeat, torch, rng) for c in cases]
    if cases:
        pk = peak.peaks(threads, before=pk)
        for row in rows:
            if "gflops" in row:
                row["share_of_peak"] = (
                    row["gflops"]["cnnsim"]["forward_backward"] / pk["peak_gflops"]
                )
    ext = {}
    for name, fn in EXTENSIONS.items():
        if name not in ext_names:
            ext[name] = f"skipped (--only {only})"
        else:
            ext[name] = fn(threads, repeat, is_quick)
    env = environment(threads)
    env["peak"] = pk
    env["repeat"] = repeat
    env["method"] = (
        "median of repeats after one warm-up, same process; cnnsim and torch "
        "alternated, the NumPy baseline timed apart; ratio = cnnsim / torch"
    )
    return {"env": env, "rows": rows, "extensions": ext}
