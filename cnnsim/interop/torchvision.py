"""torchvision parameter names for cnnsim's torchvision-compatible models, both ways.

    net = models.resnet18()
    report = load_torchvision(net, "resnet18.pth")   # or a {name: array} dict
    sd = torchvision_state_dict(net)                  # {torchvision name: array}

Models and their names (``models.alexnet(variant="torchvision")`` etc.):

=====================  =========================================  ===========================
cnnsim model           cnnsim layer (leaf path)                   torchvision name
=====================  =========================================  ===========================
alexnet-torchvision    C1, C3, C5, C6, C7                         features.0, .3, .6, .8, .10
                       F9, F10, Out                               classifier.1, .4, .6
googlenet-torchvision  conv1/conv, conv1/bn                       conv1.conv, conv1.bn
                       inception3a/branch2/3x3/conv               inception3a.branch2.1.conv
                       inception3a/branch4/pool_proj/bn           inception3a.branch4.1.bn
                       fc                                         fc
resnet18, resnet34     conv1, bn1, fc                             conv1, bn1, fc
                       conv2_1/main/conv_a, bn_a, conv_b, bn_b    layer1.0.conv1, bn1, conv2, bn2
                       conv3_1/shortcut/conv, bn                  layer2.0.downsample.0, .1
=====================  =========================================  ===========================

Tensors: a convolution's ``weight (F, C/groups, KH, KW)`` is our ``w (F, C, KH, KW)``
(block-diagonal for groups > 1); a linear layer's ``weight (D_out, D_in)`` is our
``w (D_in, D_out)`` transposed; batch norm's ``weight``, ``bias``, ``running_mean``,
``running_var`` are our ``gamma``, ``beta`` and buffers; its ``num_batches_tracked``
counter is not used at inference and is ignored. torchvision's GoogLeNet weights carry
auxiliary heads (``aux1.*``, ``aux2.*``) that its pretrained model does not use; they are
skipped and reported. Every other missing key, extra key or shape mismatch is a one-line
error naming the parameter, and nothing is loaded.
"""

import numpy as np

from .. import layers as L
from .state_dict import read_state_dict

SUPPORTED = (
    "alexnet (variant torchvision)",
    "googlenet (variant torchvision)",
    "resnet18",
    "resnet34",
)
_IGNORED_SUFFIX = ".num_batches_tracked"


class WeightsError(ValueError):
    """A state dict that does not fit the network (names or shapes)."""


def _entries(net):
    """``[(torchvision prefix, leaf)]`` for every leaf with parameters."""
    name = net.name
    if name == "alexnet-torchvision":
        idx = {
            "C1": "features.0",
            "C3": "features.3",
            "C5": "features.6",
            "C6": "features.8",
            "C7": "features.10",
            "F9": "classifier.1",
            "F10": "classifier.4",
            "Out": "classifier.6",
        }
        return [(idx[leaf.path], leaf) for leaf in net.leaves() if leaf.params]
    if name == "googlenet-torchvision":
        return [(_googlenet_name(leaf.path), leaf) for leaf in net.leaves() if leaf.params]
    if name in ("resnet18", "resnet34"):
        return [(_resnet_name(leaf.path), leaf) for leaf in net.leaves() if leaf.params]
    raise WeightsError(
        f"no torchvision names for network {name!r}; supported: {', '.join(SUPPORTED)}"
    )


def _googlenet_name(path):
    # conv1/conv -> conv1.conv ; inception3a/branch2/3x3/bn -> inception3a.branch2.1.bn
    parts = path.split("/")
    if len(parts) == 4:
        pos = {"3x3_reduce": "0", "3x3": "1", "pool_proj": "1"}[parts[2]]
        parts = [parts[0], parts[1], pos, parts[3]]
    return ".".join(parts)


def _resnet_name(path):
    # conv2_1/main/conv_a -> layer1.0.conv1 ; conv3_1/shortcut/bn -> layer2.0.downsample.1
    if "/" not in path:
        return path  # conv1, bn1, fc
    unit, part, leaf = path.split("/")
    stage, u = unit[len("conv") :].split("_")
    prefix = f"layer{int(stage) - 1}.{int(u) - 1}"
    if part == "shortcut":
        return f"{prefix}.downsample.{0 if leaf == 'conv' else 1}"
    return prefix + "." + {"conv_a": "conv1", "bn_a": "bn1", "conv_b": "conv2", "bn_b": "bn2"}[leaf]


def _slots(leaf):
    """``[(torch suffix, dict, key)]``: where each torchvision tensor of ``leaf`` goes."""
    if isinstance(leaf, L.BatchNorm):
        return [
            ("weight", leaf.params, "gamma"),
            ("bias", leaf.params, "beta"),
            ("running_mean", leaf.buffers, "running_mean"),
            ("running_var", leaf.buffers, "running_var"),
        ]
    out = [("weight", leaf.params, "w")]
    if "b" in leaf.params:
        out.append(("bias", leaf.params, "b"))
    return out


def to_cnnsim(leaf, key, a):
    """A torchvision tensor -> the array for ``leaf.params[key]`` (None: shape mismatch)."""
    if key == "w" and isinstance(leaf, L.Dense):
        return a.T if a.ndim == 2 else None
    if key == "w" and isinstance(leaf, L.Conv2D):
        f, c = leaf.params["w"].shape[:2]
        g = leaf.groups
        if a.ndim != 4 or a.shape[0] != f or a.shape[1] * g != c:
            return None
        if g == 1:
            return a
        full = np.zeros((f,) + (c,) + a.shape[2:], a.dtype)
        fo, ci = f // g, c // g
        for k in range(g):
            full[k * fo : (k + 1) * fo, k * ci : (k + 1) * ci] = a[k * fo : (k + 1) * fo]
        return full
    return a


def to_torch(leaf, key, w):
    """The inverse of ``to_cnnsim``: our array -> torchvision's layout."""
    if key == "w" and isinstance(leaf, L.Dense):
        return np.ascontiguousarray(w.T)
    if key == "w" and isinstance(leaf, L.Conv2D) and leaf.groups > 1:
        g, f, c = leaf.groups, w.shape[0], w.shape[1]
        fo, ci = f // g, c // g
        return np.concatenate([w[k * fo : (k + 1) * fo, k * ci : (k + 1) * ci] for k in range(g)])
    return w


def _torch_shape(leaf, key, arr):
    return to_torch(leaf, key, arr).shape


def torchvision_state_dict(net):
    """``{torchvision name: array}`` of ``net``'s parameters and batch-norm buffers."""
    out = {}
    for prefix, leaf in _entries(net):
        for suffix, d, key in _slots(leaf):
            out[f"{prefix}.{suffix}"] = np.array(to_torch(leaf, key, d[key]))
    return out


def load_torchvision(net, source):
    """Load a torchvision state dict (a path or ``{name: array}``) into ``net`` in place.

    Returns a dict ``{"loaded": n tensors, "skipped": [names]}`` (``skipped``: GoogLeNet's
    auxiliary heads and batch-norm counters). Raises ``WeightsError`` (one line, naming the
    parameter) on a missing key, an extra key or a shape mismatch; then nothing is loaded.
    """
    sd = read_state_dict(source) if not isinstance(source, dict) else dict(source)
    where = f"loading torchvision weights into {net.name!r}"
    skipped = sorted(
        k
        for k in sd
        if k.endswith(_IGNORED_SUFFIX)
        or (net.name == "googlenet-torchvision" and k.split(".")[0] in ("aux1", "aux2"))
    )
    for k in skipped:
        sd.pop(k)
    try:
        entries = _entries(net)
    except WeightsError as e:
        raise WeightsError(f"{where}: {e}") from None
    new = []
    for prefix, leaf in entries:
        for suffix, d, key in _slots(leaf):
            name = f"{prefix}.{suffix}"
            if name not in sd:
                raise WeightsError(
                    f"{where}: missing parameter {name!r} (for layer "
                    f"{leaf.path!r}, {key} {tuple(_torch_shape(leaf, key, d[key]))})"
                )
            a = np.asarray(sd.pop(name))
            want = tuple(_torch_shape(leaf, key, d[key]))
            conv = to_cnnsim(leaf, key, a) if a.shape == want else None
            if conv is None or conv.shape != d[key].shape:
                raise WeightsError(
                    f"{where}: parameter {name!r} has shape {tuple(a.shape)}, "
                    f"layer {leaf.path!r} expects {want}"
                )
            new.append((d, key, conv))
    if sd:
        extra = sorted(sd)
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise WeightsError(
            f"{where}: unexpected parameter {extra[0]!r}{more}; is this the "
            f"state dict of {net.name}?"
        )
    for d, key, a in new:
        d[key] = np.ascontiguousarray(a, dtype=d[key].dtype)
    return {"loaded": len(new), "skipped": skipped}
