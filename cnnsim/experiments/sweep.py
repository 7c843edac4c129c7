"""Sweeps: many small, independent experiments over a grid of parameters and seeds.

A sweep is a list of *tasks*; a task is a plain dict of parameters, its seed included
(``{"depth": 20, "activation": "sigmoid", "init": "he", "batchnorm": False,
"residual": True, "width": 8, "batch": 32, "seed": 3}``). ``run_task(kind, task)`` is a
pure function of it: the same task gives the same numbers on any machine, in any process,
in any order. It returns one *row*, a dict that can be written as one line of JSON::

    {"kind": "gradflow", "key": "<the task as canonical JSON>", "params": {...no seed...},
     "seed": 3, "version": "0.1.0", "result": {...numbers...}, "error": null,
     "seconds": 0.41}

A task that raises gets a row with ``"result": null`` and ``"error": "ValueError: ..."``.
Running the tasks (in process, in a process pool, on Dask) is ``cnnsim.experiments.executors``;
reading and writing rows is ``cnnsim.experiments.results``. Plain data only; plotting is
``cnnsim.plotting.sweep``.

Kinds:

* ``gradflow``: one tower at initialization (``gradflow.tower_point``; in float64 by
  default in sweeps, so that deep gradients are measured instead of underflowing, and
  do not turn subnormal, which made single float32 tasks take minutes); result
  ``spread`` = log10(max / min ||dL/dW||) over its conv layers (None when some conv got an
  exactly-zero gradient: float32 underflow, ``zero_layers`` says how many),
  ``first_last_ratio`` (and its log10), ``conv1_grad_log10`` (log10 ||dL/dW|| of conv1:
  small weights make every layer's gradient tiny without spreading them), ``loss``,
  ``grad_norm`` per layer.
* ``train``: one training run (``Trainer``); result ``train_error``, ``test_error``,
  ``train_loss`` (final epoch) and their per-epoch lists.
"""

import functools
import itertools
import json
import math
import time
import traceback

import numpy as np

#: the default grid of ``cnnsim sweep gradflow`` (360 towers: 72 settings x 5 seeds)
GRADFLOW_AXES = {
    "depth": [5, 10, 20, 40],
    "activation": ["sigmoid", "tanh", "relu"],
    "init": ["normal:0.01", "glorot", "he"],
    "batchnorm": [False],
    "residual": [False, True],
    "width": [8],
    "batch": [32],
    "dtype": ["float64"],
    "seed": [0, 1, 2, 3, 4],
}

#: the default grid of ``cnnsim sweep train`` (model and data come from the command line)
TRAIN_AXES = {
    "model": ["lenet5"],
    "variant": [None],
    "depth": [None],
    "width": [None],
    "lr": [None],
    "batch": [64],
    "epochs": [2],
    "seed": [0, 1, 2],
    "data": ["synthetic"],
    "limit": [2000],
    "test_limit": [1000],
    "data_dir": [None],
}

#: numbers summarized over seeds (mean and std) per kind
METRICS = {
    "gradflow": ("spread", "first_last_ratio_log10", "conv1_grad_log10", "loss"),
    "train": ("train_error", "test_error", "train_loss"),
}

#: depths of the CIFAR family (6n + 2 weight layers) take ``n``; the tower takes ``depth``
CIFAR_MODELS = ("plain_cifar", "resnet_cifar")


def grid(axes):
    """Every combination of ``axes`` (``{name: [values]}``), as a list of task dicts.

    The seed varies slowest: the first tasks cover every setting once (seed 0), so a sweep
    stopped early already has the whole picture for one seed.
    """
    names = list(axes)
    order = (["seed"] if "seed" in axes else []) + [n for n in names if n != "seed"]
    tasks = []
    for combo in itertools.product(*(axes[n] for n in order)):
        d = dict(zip(order, combo))
        tasks.append({n: d[n] for n in names})
    return tasks


def task_key(task):
    """The task as canonical JSON: equal tasks, equal keys (rows are matched by it)."""
    return json.dumps(task, sort_keys=True, separators=(",", ":"))


def gradflow_task(task):
    """One tower's gradient flow at initialization (see the module docstring)."""
    from .gradflow import tower_point

    r = tower_point(
        task["depth"],
        task["activation"],
        task["residual"],
        init=task["init"],
        batchnorm=task["batchnorm"],
        width=task["width"],
        batch=task["batch"],
        seed=task["seed"],
        dtype=task.get("dtype", "float32"),
    )
    ratio = r["first_last_ratio"]
    r["first_last_ratio_log10"] = (
        float(np.log10(ratio)) if ratio > 0 and math.isfinite(ratio) else None
    )
    r["first_last_ratio"] = ratio if math.isfinite(ratio) else None
    g1 = r["grad_norm"][0]  # conv1: how much gradient reaches the input side at all
    r["conv1_grad_log10"] = float(np.log10(g1)) if g1 > 0 else None
    r["spread"] = r["spread"] if math.isfinite(r["spread"]) else None  # zero_layers > 0
    return r


def build_train_model(task):
    """The network of a train task: ``model`` with its ``variant``, ``depth`` (CIFAR
    family: 6n + 2; tower: conv layers) and ``width``, seeded with ``seed``."""
    from .. import models

    opts = {"seed": task["seed"]}
    if task.get("variant"):
        opts["variant"] = task["variant"]
    depth, model = task.get("depth"), task["model"]
    if depth is not None:
        if model in CIFAR_MODELS:
            if (depth - 2) % 6 or depth < 8:
                raise ValueError(
                    f"{model}: depth must be 6n+2 (8, 14, 20, 32, 44, 56, ...), got {depth}"
                )
            opts["n"] = (depth - 2) // 6
        elif model == "tower":
            opts["depth"] = depth
        else:
            raise ValueError(
                f"{model}: has no depth option (depth works with "
                f"{', '.join(CIFAR_MODELS)} and tower)"
            )
    if model in CIFAR_MODELS:
        opts["input_shape"] = (1, 32, 32)  # digits, padded to 32x32
        opts["width"] = 0.25 if task.get("width") is None else task["width"]
    elif task.get("width") is not None:
        opts["width"] = task["width"]
    return models.build(model, **opts)


@functools.lru_cache(maxsize=4)
def _dataset(data, input_shape, data_dir, limit, test_limit):
    from ..train.data import load_for_model

    return load_for_model(data, input_shape, data_dir, limit, test_limit)


def train_task(task):
    """One training run: SGD with momentum 0.9, ``epochs`` epochs, seeded shuffling."""
    from ..train import SGD, Trainer, default_lr

    net = build_train_model(task)
    train, test, note = _dataset(
        task["data"],
        tuple(net.input_shape),
        task.get("data_dir"),
        task.get("limit"),
        task.get("test_limit"),
    )
    lr = task["lr"] if task.get("lr") is not None else default_lr(net, "sgd")
    h = Trainer(net, SGD(lr, momentum=0.9), task["batch"], task["seed"], progress=False).fit(
        train, test, task["epochs"]
    )
    ep = h.epochs
    return {
        "train_error": 1 - ep[-1]["train_accuracy"],
        "test_error": 1 - ep[-1]["val_accuracy"],
        "train_loss": ep[-1]["train_loss"],
        "lr": lr,
        "params": net.param_count(),
        "train_errors": [1 - r["train_accuracy"] for r in ep],
        "test_errors": [1 - r["val_accuracy"] for r in ep],
        "data": note,
    }


TASKS = {"gradflow": gradflow_task, "train": train_task}


def _row(kind, task, result=None, error=None, seconds=0.0):
    from .. import __version__

    return {
        "kind": kind,
        "key": task_key(task),
        "params": {k: v for k, v in task.items() if k != "seed"},
        "seed": task.get("seed"),
        "version": __version__,
        "result": result,
        "error": error,
        "seconds": round(seconds, 4),
    }


def error_row(kind, task, message):
    """The row of a task that did not finish (``message``: one line)."""
    return _row(kind, task, error=message)


def run_task(kind, task):
    """Run one task; never raises: an exception becomes the row's ``error`` (one line; the
    traceback's last frame in our code is kept in ``where``)."""
    t0 = time.perf_counter()
    try:
        result = TASKS[kind](task)
    except Exception as e:  # noqa: BLE001  (the row records it; the sweep goes on)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        row = _row(
            kind,
            task,
            error=f"{type(e).__name__}: {msg}".rstrip(": "),
            seconds=time.perf_counter() - t0,
        )
        tb = traceback.extract_tb(e.__traceback__)
        if tb:
            row["where"] = f"{tb[-1].filename}:{tb[-1].lineno}"
        return row
    return _row(kind, task, result=result, seconds=time.perf_counter() - t0)


def warmup_task(kind, task):
    """A tiny task that runs the same kernels as ``task`` (so they are compiled, and cached,
    once, before the workers start): same activation, initializer and layer kinds."""
    t = dict(task)
    if kind == "gradflow":
        t.update(depth=3, width=2, batch=2)
    else:
        t.update(epochs=1, limit=8, test_limit=4, batch=4, data="synthetic", data_dir=None)
        if t.get("depth") is not None and t["model"] in CIFAR_MODELS:
            t["depth"] = 8
        elif t.get("depth") is not None:
            t["depth"] = 3
    return t


def warmup_tasks(kind, tasks):
    """One tiny task per distinct kernel mix in ``tasks`` (the parameters that choose kernels)."""
    which = (
        ("activation", "batchnorm", "residual", "dtype")
        if kind == "gradflow"
        else ("model", "variant")
    )
    seen, out = set(), []
    for t in tasks:
        sig = tuple(t.get(k) for k in which) + (
            (t.get("depth") is None,) if kind == "train" else ()
        )
        if sig not in seen:
            seen.add(sig)
            out.append(warmup_task(kind, t))
    return out


def _stats(values):
    """(mean, std, n) of the values; an infinite value (a gradient underflowed to 0) makes
    the mean infinite; std is the sample standard deviation (ddof=1; 0 for one value)."""
    v = np.array(values, dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    if np.isinf(v).any():
        return float("inf"), float("nan"), len(v)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v)


def metric_value(kind, row, name):
    """One number of a row's result; a gradflow spread of None (underflow) is +inf."""
    r = row["result"]
    v = r.get(name)
    if v is None and kind == "gradflow" and name == "spread" and r.get("zero_layers"):
        return float("inf")
    return float("nan") if v is None else float(v)


def summarize(kind, rows):
    """One dict per setting (the parameters but the seed), in first-seen order:
    the parameters, ``seeds`` (finished), ``failed``, and ``<metric>_mean`` /
    ``<metric>_std`` over the seeds for every metric of ``METRICS[kind]``."""
    groups = {}
    for row in rows:
        if row.get("kind") != kind:
            continue
        key = json.dumps(row["params"], sort_keys=True)
        groups.setdefault(key, (row["params"], []))[1].append(row)
    out = []
    for params, rs in groups.values():
        ok = [r for r in rs if r.get("error") is None and r.get("result") is not None]
        rec = dict(params)
        rec["seeds"] = len(ok)
        rec["failed"] = len(rs) - len(ok)
        for m in METRICS[kind]:
            vals = [metric_value(kind, r, m) for r in ok]
            mean, std, _ = _stats([v for v in vals if not math.isnan(v)])
            rec[f"{m}_mean"], rec[f"{m}_std"] = mean, std
        if kind == "gradflow":
            rec["underflow_seeds"] = sum(1 for r in ok if r["result"].get("zero_layers"))
        out.append(rec)
    return out
