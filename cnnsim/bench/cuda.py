"""Time the CUDA twins on the lecture's layers against the CPU kernels and PyTorch/cuDNN,
and check GPU/CPU parity on those shapes. Run on a machine with a GPU:

    python -m cnnsim.bench.cuda                 # all layers, table
    python -m cnnsim.bench.cuda --json > docs/cuda_bench.json
    python -m cnnsim.bench.cuda --only alexnet --repeat 20

Layers: the CPU benchmark's list (``cnnsim.bench.cases``: LeNet-5 C1/C3, AlexNet C1/C3/C5,
ResNet 3x3, inception 1x1, AlexNet max pool, avg pool, LRN) plus AlexNet's first dense
layer (9216 -> 4096). Each row times forward + backward, with inputs already on the device
(``cuda.synchronize()`` before the clock stops), the CPU kernels on the same numbers, and
``torch`` on the GPU (cuDNN) when torch sees a GPU. ``max_abs_diff`` compares the GPU and
CPU outputs (forward and every gradient). ``--tiny`` shrinks every layer to a toy size:
a smoke run, also under the simulator (``NUMBA_ENABLE_CUDASIM=1``).
"""

import argparse
import json
import time
from dataclasses import replace

import numpy as np

from .. import config
from .. import functional as F
from .cases import PoolCase, select


def _tiny(case):
    if isinstance(case, PoolCase):
        return replace(case, n=1, c=min(case.c, 3), h=7, w=7)
    k = min(case.k, 3)
    return replace(case, n=1, c=min(case.c, 2), f=min(case.f, 2), h=7, w=7, k=k, s=min(case.s, 2))


def _ops(case, rng):
    """(forward, forward+backward) closures over host arrays for the current target."""
    f32 = np.float32
    if getattr(case, "op", None) is None and hasattr(case, "f"):
        x = rng.standard_normal((case.n, case.c, case.h, case.w)).astype(f32)
        w = (rng.standard_normal((case.f, case.c, case.k, case.k)) * 0.1).astype(f32)
        b = rng.standard_normal(case.f).astype(f32)
        dy = rng.standard_normal((case.n, case.f) + case.window().out_hw).astype(f32)
        args = dict(stride=case.s, padding=case.padding)
        return (
            (x, w, b, dy),
            lambda x, w, b, dy: [F.conv2d(x, w, b, **args)],
            lambda x, w, b, dy: [F.conv2d(x, w, b, **args), *F.conv2d_backward(dy, x, w, **args)],
        )
    x = rng.standard_normal((case.n, case.c, case.h, case.w)).astype(f32)
    if case.op == "lrn":
        dy = rng.standard_normal(x.shape).astype(f32)
        return (
            (x, dy),
            lambda x, dy: [F.lrn(x, case.size)],
            lambda x, dy: [F.lrn(x, case.size), F.lrn_backward(dy, x, case.size)],
        )
    fwd = F.max_pool2d if case.op == "max" else F.avg_pool2d
    bwd = F.max_pool2d_backward if case.op == "max" else F.avg_pool2d_backward
    y = fwd(x, case.size, case.stride)
    dy = rng.standard_normal(np.shape(y)).astype(f32)
    return (
        (x, dy),
        lambda x, dy: [fwd(x, case.size, case.stride)],
        lambda x, dy: [fwd(x, case.size, case.stride), bwd(dy, x, case.size, case.stride)],
    )


def _dense_case(tiny):
    n, d_in, d_out = (1, 5, 3) if tiny else (8, 9216, 4096)
    return {
        "name": "alexnet_fc6",
        "title": f"AlexNet FC6 dense {d_in}->{d_out}",
        "n": n,
        "d_in": d_in,
        "d_out": d_out,
    }


def _dense_ops(case, rng):
    x = rng.standard_normal((case["n"], case["d_in"])).astype(np.float32)
    w = (rng.standard_normal((case["d_in"], case["d_out"])) * 0.01).astype(np.float32)
    b = np.zeros(case["d_out"], np.float32)
    dy = rng.standard_normal((case["n"], case["d_out"])).astype(np.float32)
    return (
        (x, w, b, dy),
        lambda x, w, b, dy: [F.dense(x, w, b)],
        lambda x, w, b, dy: [F.dense(x, w, b), *F.dense_backward(dy, x, w)],
    )


def _median_time(fn, args, repeat, sync):
    fn(*args)  # compile / warm up
    sync()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        sync()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _torch_gpu():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _torch_fb(torch, case, host_args):
    """forward+backward closure in torch on the GPU (cuDNN), or None for unknown cases."""
    dev = "cuda"
    tf = torch.nn.functional
    if isinstance(case, dict):
        x, w, b, dy = (torch.tensor(a, device=dev) for a in host_args)
        w.requires_grad_(True), x.requires_grad_(True), b.requires_grad_(True)
        return lambda: torch.autograd.grad(x @ w + b, (x, w, b), dy)
    if hasattr(case, "f"):
        x, w, b, dy = (torch.tensor(a, device=dev) for a in host_args)
        for t in (x, w, b):
            t.requires_grad_(True)
        both, extra = case.torch_padding()

        def run():
            xin = tf.pad(x, extra) if any(extra) else x
            return tf.conv2d(xin, w, b, case.s, both)

        return lambda: torch.autograd.grad(run(), (x, w, b), dy)
    x, dy = (torch.tensor(a, device=dev) for a in host_args)
    x.requires_grad_(True)
    if case.op == "lrn":
        mod = torch.nn.LocalResponseNorm(case.size, alpha=1e-4 * case.size, beta=0.75, k=2.0)
        return lambda: torch.autograd.grad(mod(x), (x,), dy)
    op = tf.max_pool2d if case.op == "max" else tf.avg_pool2d
    return lambda: torch.autograd.grad(op(x, case.size, case.stride), (x,), dy)


def run(only=None, repeat=10, tiny=False, seed=0):
    from numba import cuda

    from ..kernels.cuda._util import to_device, to_host

    rng = np.random.default_rng(seed)
    cases = [_tiny(c) for c in select(only)] if tiny else select(only)
    dense = _dense_case(tiny)
    if only is None or only in dense["name"]:
        cases.append(dense)
    torch = _torch_gpu()
    rows = []
    saved = config.target
    try:
        for case in cases:
            args, fwd, fb = (_dense_ops if isinstance(case, dict) else _ops)(case, rng)
            config.set_target("cpu")
            cpu_out = fb(*args)
            t_cpu = _median_time(fb, args, max(1, repeat // 3), lambda: None)
            config.set_target("cuda")
            dargs = [to_device(a) for a in args]
            gpu_out = [to_host(a) for a in fb(*dargs)]
            diff = max(
                float(np.max(np.abs(g - c))) if np.size(c) else 0.0
                for g, c in zip(gpu_out, cpu_out)
            )
            t_fwd = _median_time(fwd, dargs, repeat, cuda.synchronize)
            t_fb = _median_time(fb, dargs, repeat, cuda.synchronize)
            row = {
                "name": case["name"] if isinstance(case, dict) else case.name,
                "title": case["title"] if isinstance(case, dict) else case.title,
                "cuda_forward_ms": t_fwd * 1e3,
                "cuda_fwd_bwd_ms": t_fb * 1e3,
                "cpu_fwd_bwd_ms": t_cpu * 1e3,
                "max_abs_diff": diff,
                "torch_fwd_bwd_ms": None,
            }
            if torch is not None:
                tfb = _torch_fb(torch, case, args)
                row["torch_fwd_bwd_ms"] = (
                    _median_time(tfb, (), repeat, torch.cuda.synchronize) * 1e3
                )
            rows.append(row)
    finally:
        config.target = saved
    dev = cuda.get_current_device()
    name = getattr(dev, "name", b"?")
    return {
        "device": name.decode() if isinstance(name, bytes) else str(name),
        "simulator": config_sim(),
        "torch": None if torch is None else torch.__version__,
        "repeat": repeat,
        "threads_per_block": config.threads_per_block,
        "tile": config.tile,
        "rows": rows,
    }


def config_sim():
    from numba import config as nconfig

    return bool(nconfig.ENABLE_CUDASIM)


def format_rows(rep):
    lines = [
        f"device: {rep['device']}  (simulator: {rep['simulator']}, torch: {rep['torch']})",
        f"{'layer':44s} {'cuda fwd':>10s} {'cuda f+b':>10s} {'cpu f+b':>10s} "
        f"{'torch f+b':>10s} {'max|gpu-cpu|':>13s}",
    ]
    for r in rep["rows"]:
        t = f"{r['torch_fwd_bwd_ms']:10.3f}" if r["torch_fwd_bwd_ms"] is not None else f"{'-':>10s}"
        lines.append(
            f"{r['title'][:44]:44s} {r['cuda_forward_ms']:10.3f} {r['cuda_fwd_bwd_ms']:10.3f} "
            f"{r['cpu_fwd_bwd_ms']:10.3f} {t} {r['max_abs_diff']:13.3g}"
        )
    lines.append("times in ms (median); inputs already on the device")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m cnnsim.bench.cuda",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--only", default=None, help="layers whose name contains this")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--tiny", action="store_true", help="toy shapes: a smoke run")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    from ..kernels import cuda_available

    ok, why = cuda_available()
    if not ok:
        raise SystemExit(why)
    rep = run(a.only, a.repeat, a.tiny)
    print(json.dumps(rep, indent=1) if a.json else format_rows(rep))


if __name__ == "__main__":
    main()
