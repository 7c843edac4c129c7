"""Checkpoints: one ``.npz`` with every parameter, buffer, the optimizer state and metadata.

Keys: ``param/<layer path>/<name>``, ``buffer/<layer path>/<name>``, ``opt/<key>``, and
``meta`` (JSON: format version, model name, epoch, anything the caller adds). Loading checks
that every name and shape matches the network and says what differs.
"""

import json
import math

import numpy as np

from .._atomic import atomic_path
from .._npz import read_npz
from .._text import printable

FORMAT = "cnnsim-checkpoint/1"


class CheckpointError(ValueError):
    pass


def save_checkpoint(path, net, optimizer=None, **meta):
    arrays = {}
    for layer in net.all_leaves():
        for k, v in layer.params.items():
            arrays[f"param/{layer.path}/{k}"] = v
        for k, v in getattr(layer, "buffers", {}).items():
            arrays[f"buffer/{layer.path}/{k}"] = v
    if optimizer is not None:
        sd = optimizer.state_dict()
        meta["optimizer"] = {"class": type(optimizer).__name__, "t": sd["t"], "lr": sd["lr"]}
        for k, v in sd["arrays"].items():
            arrays[f"opt/{k}"] = v
    meta = {"format": FORMAT, "model": net.name, **meta}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_path(path) as tmp:  # never a half-written checkpoint
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def default_max_bytes(net):
    """The most a checkpoint of ``net`` may hold: its parameters and buffers three times
    over (the weights plus Adam's two moments) and 16 MiB for metadata and history."""
    own = sum(
        v.nbytes
        for layer in net.all_leaves()
        for d in (layer.params, getattr(layer, "buffers", {}))
        for v in d.values()
    )
    return 3 * own + 16 * 2**20


def _checked(path, key, a, expect=None):
    """A real float array with finite entries (and ``expect``'s shape), or CheckpointError."""
    if a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
        raise CheckpointError(
            f"{path}: {key} has dtype {a.dtype}; checkpoints hold float32 or float64 numbers"
        )
    if expect is not None and a.shape != expect.shape:
        raise CheckpointError(
            f"{path}: {key} has shape {a.shape}, the network expects {expect.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise CheckpointError(
            f"{path}: {key} holds NaN or infinite values; refusing to load "
            f"a diverged or damaged checkpoint"
        )
    return a


def load_checkpoint(path, net, optimizer=None, max_bytes=None):
    """Load into ``net`` (and ``optimizer``); returns the metadata dict.

    Everything is checked before the network is touched: the arrays' declared sizes
    against ``max_bytes`` (default :func:`default_max_bytes`) before inflating, then every
    name, shape, dtype (real floats only) and value (finite only), and the metadata's
    types. A bad file raises a one-line ``CheckpointError`` and leaves ``net`` as it was."""
    path = str(path)
    if max_bytes is None:
        max_bytes = default_max_bytes(net)
    z = read_npz(path, max_bytes, "checkpoint", CheckpointError)
    meta = _read_meta(path, z)
    staged = _staged_params(path, z, net, printable(meta.get("model"), 60))
    opt_state = None
    if optimizer is not None and "optimizer" in meta:
        opt_state = _optimizer_state(path, z, meta["optimizer"])
    _check_progress(path, meta)
    for v, a in staged:
        v[...] = a
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)
    return meta


def _read_meta(path, z):
    """The metadata dict of a cnnsim checkpoint (JSON in a uint8 array), format checked."""
    try:
        meta = json.loads(bytes(z["meta"]).decode()) if z["meta"].dtype == np.uint8 else None
    except (KeyError, ValueError, UnicodeDecodeError, RecursionError):
        meta = None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: not a cnnsim checkpoint (no readable metadata)")
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            printable(f"{path}: checkpoint format {meta.get('format')!r:.60}, expected {FORMAT!r}")
        )
    return meta


def _staged_params(path, z, net, model):
    """(network array, checked file array) for every parameter and buffer of ``net``."""
    staged = []
    for layer in net.all_leaves():
        for group, d in (("param", layer.params), ("buffer", getattr(layer, "buffers", {}))):
            for k, v in d.items():
                key = f"{group}/{layer.path}/{k}"
                if key not in z:
                    raise CheckpointError(
                        f"{path}: no {group} {layer.path}.{k} (saved from model "
                        f"{model!r}, loading into {net.name!r})"
                    )
                staged.append((v, _checked(path, f"{layer.path}.{k}", z[key], v)))
    return staged


def _count(v):
    """A non-negative integer (a bool is not one)."""
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _rate(v):
    """A finite positive number (what ``Optimizer`` accepts as a learning rate)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v) and v > 0
    except OverflowError:  # an integer too large for a float
        return False


def _history(v):
    return isinstance(v, dict) and isinstance(v.get("epochs", []), list)


# The optimizer's metadata: field -> check (any failure: "damaged optimizer metadata").
_OPTIMIZER_FIELDS = {"t": _count, "lr": _rate}
# Fields of the metadata a resumed run reads: key -> (check, message when it fails).
_PROGRESS_FIELDS = {
    "epoch": (_count, "epoch must be a non-negative integer, got {got}"),
    "step": (_count, "step must be a non-negative integer, got {got}"),
    "history": (_history, "damaged training history"),
}


def _optimizer_state(path, z, o):
    """The optimizer's ``state_dict`` from metadata ``o`` and the ``opt/`` arrays."""
    if not isinstance(o, dict) or not all(ok(o.get(k)) for k, ok in _OPTIMIZER_FIELDS.items()):
        raise CheckpointError(f"{path}: damaged optimizer metadata")
    arrays = {k[4:]: _checked(path, k, z[k]).copy() for k in z if k.startswith("opt/")}
    if any("|" not in k for k in arrays):
        raise CheckpointError(f"{path}: damaged optimizer state")
    return {"t": o["t"], "lr": o["lr"], "arrays": arrays}


def _check_progress(path, meta):
    for key, (ok, message) in _PROGRESS_FIELDS.items():
        if key in meta and not ok(meta[key]):
            got = printable(repr(meta[key]), 40)
            raise CheckpointError(f"{path}: {message.format(got=got)}")
