"""Checkpoints: one ``.npz`` with every parameter, buffer, the optimizer state and metadata.

Keys: ``param/<layer path>/<name>``, ``buffer/<layer path>/<name>``, ``opt/<key>``, and
``meta`` (JSON: format version, model name, epoch, anything the caller adds). Loading checks
that every name and shape matches the network and says what differs.
"""
import json

import numpy as np

from .._atomic import atomic_path

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
    with atomic_path(path) as tmp:      # never a half-written checkpoint
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def load_checkpoint(path, net, optimizer=None):
    """Load into ``net`` (and ``optimizer``); returns the metadata dict."""
    try:
        z = np.load(path, allow_pickle=False)
        meta = json.loads(bytes(z["meta"]).decode())
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable cnnsim checkpoint ({type(e).__name__}: {e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')!r}, expected {FORMAT!r}")
    for layer in net.all_leaves():
        for group, d in (("param", layer.params), ("buffer", getattr(layer, "buffers", {}))):
            for k, v in d.items():
                key = f"{group}/{layer.path}/{k}"
                if key not in z.files:
                    raise CheckpointError(f"{path}: no {group} {layer.path}.{k} (saved from model "
                                          f"{meta.get('model')!r}, loading into {net.name!r})")
                a = z[key]
                if a.shape != v.shape:
                    raise CheckpointError(f"{path}: {layer.path}.{k} has shape {a.shape}, the "
                                          f"network expects {v.shape}")
                v[...] = a
    if optimizer is not None and "optimizer" in meta:
        arrays = {k[4:]: z[k].copy() for k in z.files if k.startswith("opt/")}
        optimizer.load_state_dict({"t": meta["optimizer"]["t"], "lr": meta["optimizer"]["lr"],
                                   "arrays": arrays})
    return meta
