"""Whole-model rows of ``cnnsim bench``: LeNet-5 training throughput, the start time of
``cnnsim step lenet5`` and the peak memory of an AlexNet trace.

Each measurement runs in fresh subprocesses. For the training row cnnsim and PyTorch run in
*separate* processes, alternated A B A B: two OpenMP runtimes (Numba's and PyTorch's) in one
process spin against each other on a busy machine and slow both by up to 10x, which would
measure the interference, not the frameworks.

    python -m cnnsim.bench.extensions train cnnsim 2 20   # one worker: JSON on stdout
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

BATCH = 64


def _python(args, env=None, timeout=600):
    """Run ``python -m ...`` with ``args``; returns (seconds, stdout)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = root + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *args], env=e, capture_output=True, text=True,
                         timeout=timeout, check=True).stdout
    return time.perf_counter() - t0, out


# ---- LeNet-5 training throughput ------------------------------------------------------

def _torch_lenet5(torch):
    tn = torch.nn
    return tn.Sequential(tn.Conv2d(1, 6, 5), tn.Tanh(), tn.AvgPool2d(2),
                         tn.Conv2d(6, 16, 5), tn.Tanh(), tn.AvgPool2d(2),
                         tn.Conv2d(16, 120, 5), tn.Tanh(), tn.Flatten(),
                         tn.Linear(120, 84), tn.Tanh(), tn.Linear(84, 10))


def train_worker(impl, threads, steps, seed=0):
    """Median seconds of one SGD step (batch 64, momentum 0.9) of LeNet-5 (modern)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    if impl == "cnnsim":
        import numba

        from ..models import lenet5
        from ..train import SGD, network_loss
        numba.set_num_threads(threads)
        net, opt = lenet5(variant="modern"), SGD(0.01, 0.9)

        def step():
            network_loss(net, x, y)
            opt.step(net)
    else:
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        m = _torch_lenet5(torch)
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def step():
            opt.zero_grad()
            loss_fn(m(tx), ty).backward()
            opt.step()
    step()
    step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def training_throughput(threads, repeat, is_quick):
    from .baselines import torch_module
    steps = 3 if is_quick else 20
    rounds = 1 if is_quick else max(3, min(repeat, 7))
    impls = ["cnnsim"] + (["torch"] if torch_module() is not None else [])
    med = {k: [] for k in impls}
    for _ in range(rounds):
        for k in impls:
            _, out = _python(["-m", "cnnsim.bench.extensions", "train", k, str(threads), str(steps)])
            med[k].append(json.loads(out)["step_s"])
    res = {"batch": BATCH, "model": "lenet5(variant='modern'), SGD momentum 0.9",
           "method": f"median step of {steps} after 2 warm-up steps, per process; median of "
                     f"{rounds} processes per implementation, alternated",
           "target": ">= 0.67 of PyTorch's images/s"}
    for k in impls:
        s = float(np.median(med[k]))
        res[f"{k}_step_s"] = s
        res[f"{k}_images_per_s"] = BATCH / s
    if "torch" in med:
        res["throughput_ratio"] = res["cnnsim_images_per_s"] / res["torch_images_per_s"]
        res["meets_target"] = res["throughput_ratio"] >= 0.67
    else:
        res["torch"] = "skipped (torch not installed)"
    return res


# ---- start time of `cnnsim step lenet5` -----------------------------------------------

def step_start(threads, repeat, is_quick):
    """Whole-process wall time of ``cnnsim step lenet5``: warm (JIT cache as it is, after one
    run that fills it) and cold (``NUMBA_CACHE_DIR`` an empty directory: everything compiles)."""
    args = ["-m", "cnnsim.cli.main", "step", "lenet5"]
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    _python(args, env)                     # fills the cache if it was empty
    warm = [_python(args, env)[0] for _ in range(1 if is_quick else max(3, min(repeat, 5)))]
    res = {"warm_s": float(np.median(warm)), "warm_runs": len(warm),
           "target": "warm < 3 s; cold: goal < 60 s"}
    if is_quick:
        res["cold_s"] = "skipped (--quick)"
        return res
    with tempfile.TemporaryDirectory() as d:
        res["cold_s"] = _python(args, dict(env, NUMBA_CACHE_DIR=d))[0]
    res["meets_target"] = res["warm_s"] < 3.0
    return res


# ---- peak memory of an AlexNet trace ----------------------------------------------------

def memory_worker(variant):
    import resource

    from ..engine.bench import trace_memory
    from ..models import alexnet
    net = alexnet(variant=variant)
    x = np.random.default_rng(0).random((1,) + net.input_shape, dtype=np.float32)
    r = trace_memory(net, x)
    r["process_max_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    r["params"] = sum(v.size for _, _, v in net.parameters())
    return r


def trace_peak_memory(threads, repeat, is_quick):
    res = {"target": "< 1.5 GB", "method": "tracemalloc peak of record(net, one image) "
           "(cnnsim.engine.bench.trace_memory), and the process's max RSS"}
    for variant in ("lecture", "paper"):
        _, out = _python(["-m", "cnnsim.bench.extensions", "memory", variant])
        r = json.loads(out)
        res[variant] = r
    res["meets_target"] = all(res[v]["peak_bytes"] < 1.5e9 for v in ("lecture", "paper"))
    return res


def register_all():
    from .run import register_extension
    register_extension("lenet5_training_throughput", training_throughput)
    register_extension("step_lenet5_start", step_start)
    register_extension("alexnet_trace_peak_memory", trace_peak_memory)


def _main(argv):
    if argv[0] == "train":
        print(json.dumps({"step_s": train_worker(argv[1], int(argv[2]), int(argv[3]))}))
    elif argv[0] == "memory":
        print(json.dumps(memory_worker(argv[1])))
    else:
        raise SystemExit(f"unknown worker {argv[0]!r}")


if __name__ == "__main__":
    _main(sys.argv[1:])
