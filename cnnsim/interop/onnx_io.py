"""ONNX in and out: ``from_onnx(path) -> Model`` and ``to_onnx(net, path)``.

Needs the ``onnx`` package (``pip install 'cnnsim[onnx]'``); nothing else in cnnsim does.

**Import.** The ONNX graph becomes a ``cnnsim.Model`` (``Input`` -> layers -> outputs),
one cnnsim layer per ONNX node, named after the node (a leading ``/`` is dropped; nodes
without a name get ``<op>_<k>``). Operators and how they map (attributes as the ONNX spec
defines them; an operator or attribute value not listed is a one-line ``OnnxError`` that
names the node, the operator and the supported list):

===================  =====================================================================
ONNX                 cnnsim
===================  =====================================================================
Conv                 ``Conv2D``: ``group`` (grouped convolution), ``strides``, ``pads``
                     ``[top, left, bottom, right]``, ``auto_pad`` VALID / SAME_UPPER (our
                     "same": the odd extra row at the bottom) / SAME_LOWER (explicit, the
                     extra row at the top); ``dilations`` must be 1
MaxPool              ``MaxPool2D``; ``ceil_mode=1`` as extra bottom/right padding (padding
                     never wins a max, ``geometry.ceil_mode_pads``)
AveragePool          ``AvgPool2D(count_include_pad=0 or 1)``; ``ceil_mode`` only where it
                     changes nothing
GlobalAveragePool    ``GlobalAvgPool`` (gives the vector ``(C,)``: the ``Flatten`` /
                     ``Reshape (N, -1)`` that follows is then nothing to do)
LRN                  ``LRN(r=size, k=bias, alpha=alpha / size, beta)``: ONNX divides alpha
                     by the window size (as PyTorch and Caffe), the lecture's formula does
                     not, so ONNX ``alpha=1e-4, size=5`` is our ``alpha=2e-5``; ``size``
                     must be odd (an even window is not centred)
BatchNormalization   ``BatchNorm(eps=epsilon, momentum)`` with scale/B/mean/var (inference)
Relu Sigmoid Tanh    an ``Activation`` layer; Softmax over the last axis of ``(N, K)``.
Softmax              Unnamed, or named ``<conv>/relu`` (etc.) as cnnsim writes a fused
                     activation, and reading only that Conv / Gemm / MatMul / Add: fused
                     into it (one layer, one step, as the lecture draws a layer)
LeakyRelu            ``LeakyReLU(alpha)``
Gemm                 ``Dense``: ``w = alpha * B`` (``B^T`` when ``transB=1``),
                     ``b = beta * C``; ``transA`` must be 0
MatMul (+ Add)       ``Dense`` without bias; an ``Add`` of a constant right after is its bias
Add                  ``Add`` of two tensors of the same shape (a residual join)
Concat               ``DepthConcat`` (axis 1)
Flatten, Reshape     ``Flatten`` (axis 1; Reshape only to ``(N, -1)`` or ``(N, D)``)
Dropout              ``Dropout(ratio)`` (identity at inference)
Identity             nothing (the tensor is passed on)
===================  =====================================================================

Weights come from initializers (or ``Constant`` nodes). The network input is the graph's
one non-initializer input, ``(N, C, H, W)`` or ``(N, D)``; the batch dimension may be
symbolic. Every graph output becomes an output of the Model: the first is the network's,
the others are extra outputs (as GoogLeNet's auxiliary heads: training adds their losses
with weight 0.3, ``cnnsim.Model``). Explicit pads become ``"valid"`` (all zero), one int
(all equal) or ``(top, bottom, left, right)``. Float attributes, stored as float32, come
back as their shortest decimal (``1e-05``, not ``9.99999975e-06``). Containers are not
rebuilt: an import is one flat graph of leaves named by their paths (``inception_3a/1x1``).

**Export.** ``to_onnx(net, path)`` writes any built network (every zoo model, any
``Model``) as opset 13: one node (or a few) per leaf, named after the leaf's path, every
output of the graph (``"output"``, then ``"<head>:output"`` for each of ``aux_heads``:
GoogLeNet's ``aux1:output`` and ``aux2:output``, which give logits as cnnsim's heads do).
Layers that ONNX has no single operator for are written as small subgraphs: a fused
activation as a second node, ``scaled_tanh`` as ``Mul -> Tanh -> Mul``, LeNet-5's
``Subsampling`` as ``AveragePool -> Mul -> Add``, its ``RBF`` as ``|x|^2 - 2 x.w + |w|^2``
(ReduceSumSquare, MatMul, Add), a sparse connection table as a full convolution with zero
weights. All of them run in onnxruntime, and the import reads each back as its one cnnsim
layer (``cnnsim.interop.onnx_patterns``), so ``from_onnx(to_onnx(net, path))`` is the same
network: the same leaves, names, weights, connection tables and outputs.
"""

import os

import numpy as np

from .. import geometry
from .. import layers as L
from .onnx_patterns import (
    PATTERN_OPS,
    PATTERNS,
    Patterns,
    owned,
    read_hints,
    read_preprocess,
    table_from_hint,
    table_hint,
    write_hints,
    write_preprocess,
)
from .torchvision import to_cnnsim, to_torch

OPSET = 13

SUPPORTED_OPS = (
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "LRN",
    "BatchNormalization",
    "Relu",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "LeakyRelu",
    "Gemm",
    "MatMul",
    "Add",
    "Concat",
    "Flatten",
    "Reshape",
    "Dropout",
    "Identity",
    "Constant",
)
_ACTS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax"}
_FUSE_INTO = ("Conv", "Gemm", "MatMul", "Add")


class OnnxError(ValueError):
    """An ONNX file cnnsim cannot read or a network it cannot write (one line)."""


def _onnx():
    try:
        import onnx
    except ImportError:
        raise RuntimeError(
            "ONNX import/export needs the onnx package: pip install 'cnnsim[onnx]'"
        ) from None
    return onnx


# =========================================================================================
# import
# =========================================================================================


class _Reader(Patterns):
    def __init__(self, model, where):
        onnx = _onnx()
        self.nh = onnx.numpy_helper
        self.helper = onnx.helper
        self.where = where
        self.model = model
        g = model.graph
        self.g = g
        self.const = {t.name: self.nh.to_array(t) for t in g.initializer}
        self.outputs = [o.name for o in g.output]
        self.consumers = {}
        self.producer = {o: node for node in g.node for o in node.output if o}
        self.hints = read_hints(model, where, OnnxError)
        for node in g.node:
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)
        self.val = {}  # ONNX tensor name -> cnnsim Tensor
        self.vec = set()  # names whose cnnsim value is (C,) where ONNX has (C, 1, 1)
        self.skip = set()  # ids of nodes absorbed into an earlier layer
        self.names = set()

    # ---- helpers --------------------------------------------------------------------
    def fail(self, node, msg):
        raise OnnxError(f"{self.where}: node {self._name(node)!r} ({node.op_type}): {msg}")

    def _name(self, node):
        return (
            node.name.lstrip("/")
            if node.name
            else f"{node.op_type}_{list(self.g.node).index(node)}"
        )

    def layer_name(self, node, base=None):
        name = base or self._name(node)
        base, k = name, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def attrs(self, node, allowed):
        """``{name: value}`` of the node's attributes; an unknown one is an error."""
        out = {}
        for a in node.attribute:
            if a.name not in allowed:
                self.fail(
                    node,
                    f"unsupported attribute {a.name!r}; cnnsim reads "
                    f"{', '.join(allowed) or 'none'} for {node.op_type} "
                    f"(supported operators: {', '.join(SUPPORTED_OPS)})",
                )
            v = self.helper.get_attribute_value(a)
            if isinstance(v, float):
                v = _short(v)
            out[a.name] = v.decode() if isinstance(v, bytes) else v
        return out

    def tensor(self, node, name):
        if name in self.val:
            return self.val[name]
        if name in self.const:
            self.fail(
                node,
                f"input {name!r} is a constant where cnnsim needs a tensor "
                f"computed from the network input",
            )
        self.fail(node, f"input {name!r} is not computed before this node")

    def constant(self, node, name, what):
        if name not in self.const:
            self.fail(node, f"{what} {name!r} must be a constant (initializer)")
        return self.const[name]

    def sole_consumer(self, name):
        cons = self.consumers.get(name, [])
        if len(cons) == 1 and name not in self.outputs:
            return cons[0]
        return None

    def fused_act(self, out_name, producer):
        """The activation node that only reads ``out_name`` and is named as cnnsim names a
        fused activation (``<producer>/<op in lower case>``) or not at all: it is absorbed
        into the producer (one layer, one step). Any other named node stays a layer."""
        nxt = self.sole_consumer(out_name)
        st = self.scaled_tanh_nodes(nxt) if nxt is not None else None
        if st is not None:
            if nxt.name and nxt.name != f"{producer.name}/scale_in":
                return None, out_name
            self.skip.update(id(n) for n in st)
            return "scaled_tanh", st[-1].output[0]
        if nxt is None or nxt.op_type not in _ACTS:
            return None, out_name
        if nxt.name and nxt.name != f"{producer.name}/{nxt.op_type.lower()}":
            return None, out_name
        if nxt.op_type == "Softmax":
            axis = {a.name: self.helper.get_attribute_value(a) for a in nxt.attribute}.get(
                "axis", -1
            )
            if axis not in (1, -1):
                return None, out_name
        elif list(nxt.attribute):
            return None, out_name
        self.skip.add(id(nxt))
        return _ACTS[nxt.op_type], nxt.output[0]

    def put(self, name, t, vector=False):
        self.val[name] = t
        if vector:
            self.vec.add(name)

    # ---- the walk -------------------------------------------------------------------
    def run(self, model_name):
        import cnnsim

        g = self.g
        ins = [i for i in g.input if i.name not in self.const]
        if len(ins) != 1:
            raise OnnxError(
                f"{self.where}: expected one network input, got "
                f"{len(ins)} ({', '.join(i.name for i in ins)})"
            )
        dims = ins[0].type.tensor_type.shape.dim
        shape = tuple(d.dim_value for d in dims)[1:]
        if len(dims) not in (2, 4) or not all(s > 0 for s in shape):
            raise OnnxError(
                f"{self.where}: input {ins[0].name!r} must be (N, C, H, W) or "
                f"(N, D) with known sizes besides N, got "
                f"{[d.dim_value or d.dim_param for d in dims]}"
            )
        x = cnnsim.Input(shape)
        self.put(ins[0].name, x)
        for node in g.node:
            if id(node) in self.skip:
                continue
            if node.op_type not in SUPPORTED_OPS + PATTERN_OPS:
                self.fail(
                    node,
                    f"unsupported operator; supported: {', '.join(SUPPORTED_OPS)} "
                    f"(and the subgraphs {PATTERNS})",
                )
            getattr(self, "op_" + node.op_type)(node)
        if not self.outputs:
            raise OnnxError(f"{self.where}: the graph has no output")
        for out in self.outputs:
            if out not in self.val:
                raise OnnxError(f"{self.where}: output {out!r} is not computed from the input")
            if self.val[out] is x:
                raise OnnxError(
                    f"{self.where}: the graph computes nothing (output {out!r} = input)"
                )
        outs = [self.val[o] for o in self.outputs]
        net = cnnsim.Model(x, outs if len(outs) > 1 else outs[0], name=model_name, seed=None)
        read_preprocess(self.model, net, self.where, OnnxError)
        return net

    # ---- operators ------------------------------------------------------------------
    def op_Constant(self, node):
        a = self.attrs(node, ("value",))
        if "value" not in a:
            self.fail(node, "only the 'value' form of Constant is supported")
        self.const[node.output[0]] = self.nh.to_array(a["value"])

    def op_Identity(self, node):
        self.attrs(node, ())
        if node.input[0] in self.const:  # exporters alias shared weights this way
            self.const[node.output[0]] = self.const[node.input[0]]
            return
        if self.hint(node).get("activation") == "linear":  # cnnsim's Activation("linear")
            self._activation(node, "linear")
            return
        self.put(node.output[0], self.tensor(node, node.input[0]), node.input[0] in self.vec)

    def _maps(self, node):
        x = self.tensor(node, node.input[0])
        if len(x.shape) != 3 or node.input[0] in self.vec:
            self.fail(
                node,
                f"expects maps (N, C, H, W), got (N, {', '.join(map(str, x.shape))})"
                + (" (after GlobalAveragePool)" if node.input[0] in self.vec else ""),
            )
        return x

    def _padding(self, node, a, x, kernel, strides):
        auto = a.get("auto_pad", "NOTSET")
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if auto == "VALID":
            return "valid"
        if auto == "SAME_UPPER":
            return "same"
        if auto == "SAME_LOWER":
            t, b, l, r = geometry.normalize_padding("same", x.shape[1:], kernel, strides)
            return (b, t, r, l)  # the odd extra row/column goes first
        if auto != "NOTSET":
            self.fail(
                node,
                f"unsupported auto_pad {auto!r}; supported: NOTSET, VALID, SAME_UPPER, SAME_LOWER",
            )
        if len(pads) != 4:
            self.fail(node, f"pads must have 4 entries (2-D), got {pads}")
        t, l, b, r = pads
        if t == b == l == r:  # "valid" or one int, as a table shows them
            return "valid" if t == 0 else int(t)
        return (t, b, l, r)

    def _window(self, node, a):
        k = list(a.get("kernel_shape", []))
        if len(k) != 2:
            self.fail(node, f"kernel_shape must be 2-D, got {k}")
        s = list(a.get("strides", [1, 1]))
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self.fail(node, f"unsupported dilations {list(a['dilations'])}; cnnsim supports 1")
        return tuple(k), tuple(s)

    def op_Conv(self, node):
        a = self.attrs(node, ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"))
        x = self._maps(node)
        w = self.constant(node, node.input[1], "weight")
        b = (
            self.constant(node, node.input[2], "bias")
            if len(node.input) > 2 and node.input[2]
            else None
        )
        a.setdefault("kernel_shape", list(w.shape[2:]))
        k, s = self._window(node, a)
        pad = self._padding(node, a, x, k, s)
        g = int(a.get("group", 1))
        table = self.hint(node).get("table")
        if table is not None:
            table = table_from_hint(table, (w.shape[0], x.shape[0]))
            if table is None or g != 1:
                self.fail(
                    node,
                    f"metadata 'cnnsim.layers' gives a connection table that is not "
                    f"{w.shape[0]} rows of {x.shape[0]} zeros and ones (group 1)",
                )
        act, out = self.fused_act(node.output[0], node)
        layer = L.Conv2D(
            w.shape[0],
            k,
            s,
            pad,
            activation=act,
            use_bias=b is not None,
            connections=table,
            groups=g,
            name=self.layer_name(node),
        )
        y = layer(x)
        wc = to_cnnsim(layer, "w", w)
        if wc is None or wc.shape != layer.params["w"].shape:
            self.fail(
                node, f"weight shape {w.shape} does not fit {x.shape[0]} input maps with group={g}"
            )
        layer.params["w"] = owned(wc)
        if b is not None:
            layer.params["b"] = owned(b.reshape(-1))
        self.put(out, y)

    def _pool(self, node, cls, allowed):
        a = self.attrs(node, allowed)
        x = self._maps(node)
        k, s = self._window(node, a)
        pad = self._padding(node, a, x, k, s)
        if a.get("storage_order", 0):
            self.fail(node, "unsupported storage_order=1 (column-major indices)")
        if a.get("ceil_mode", 0):
            if not isinstance(pad, tuple):
                pad = geometry.normalize_padding(pad, x.shape[1:], k, s)
            t, b, l, r = pad
            (t, b2), (l, r2) = (
                _ceil_pads(n, kk, ss, p0, p1)
                for n, kk, ss, p0, p1 in (
                    (x.shape[1], k[0], s[0], t, b),
                    (x.shape[2], k[1], s[1], l, r),
                )
            )
            if cls is L.AvgPool2D and (b2, r2) != (b, r):
                self.fail(
                    node,
                    "ceil_mode=1 on AveragePool is supported only where it does "
                    "not change the output size",
                )
            pad = (t, b2, l, r2)
        opts = {}
        if cls is L.AvgPool2D:
            opts["count_include_pad"] = bool(a.get("count_include_pad", 0))
        layer = cls(k, s, pad, name=self.layer_name(node), **opts)
        self.put(node.output[0], layer(x))

    def op_MaxPool(self, node):
        if len(node.output) > 1 and node.output[1]:
            self.fail(node, "the Indices output is not supported")
        self._pool(
            node,
            L.MaxPool2D,
            (
                "auto_pad",
                "ceil_mode",
                "dilations",
                "kernel_shape",
                "pads",
                "storage_order",
                "strides",
            ),
        )

    def op_AveragePool(self, node):
        allowed = (
            "auto_pad",
            "ceil_mode",
            "count_include_pad",
            "kernel_shape",
            "pads",
            "strides",
            "dilations",
        )
        if not self.subsampling(node, self.attrs(node, allowed)):
            self._pool(node, L.AvgPool2D, allowed)

    def op_GlobalAveragePool(self, node):
        self.attrs(node, ())
        x = self._maps(node)
        self.put(node.output[0], L.GlobalAvgPool(name=self.layer_name(node))(x), vector=True)

    def op_LRN(self, node):
        a = self.attrs(node, ("alpha", "beta", "bias", "size"))
        x = self._maps(node)
        size = int(a["size"])
        if size % 2 == 0:
            self.fail(
                node,
                f"size={size} is even: ONNX's window is then not centred; cnnsim's "
                f"LRN (the lecture's formula) needs an odd size",
            )
        layer = L.LRN(
            r=size,
            k=a.get("bias", 1.0),
            alpha=a.get("alpha", 1e-4) / size,
            beta=a.get("beta", 0.75),
            name=self.layer_name(node),
        )
        self.put(node.output[0], layer(x))

    def op_BatchNormalization(self, node):
        a = self.attrs(node, ("epsilon", "momentum", "training_mode", "spatial"))
        if a.get("training_mode", 0):
            self.fail(node, "training_mode=1 is not supported (inference graphs only)")
        if len(node.output) > 1 and any(node.output[1:]):
            self.fail(node, "running-statistics outputs are not supported (inference only)")
        x = self.tensor(node, node.input[0])
        vals = [
            self.constant(node, n, what)
            for n, what in zip(node.input[1:5], ("scale", "B", "mean", "var"))
        ]
        layer = L.BatchNorm(
            momentum=a.get("momentum", 0.9), eps=a.get("epsilon", 1e-5), name=self.layer_name(node)
        )
        y = layer(x)
        for (d, key), v in zip(
            (
                (layer.params, "gamma"),
                (layer.params, "beta"),
                (layer.buffers, "running_mean"),
                (layer.buffers, "running_var"),
            ),
            vals,
        ):
            d[key] = owned(v.reshape(-1))
        self.put(node.output[0], y, node.input[0] in self.vec)

    def _activation(self, node, name):
        x = self.tensor(node, node.input[0])
        layer = L.Activation(name, name=self.layer_name(node))
        self.put(node.output[0], layer(x), node.input[0] in self.vec)

    def op_Relu(self, node):
        self.attrs(node, ())
        self._activation(node, "relu")

    def op_Sigmoid(self, node):
        self.attrs(node, ())
        self._activation(node, "sigmoid")

    def op_Tanh(self, node):
        self.attrs(node, ())
        self._activation(node, "tanh")

    def op_Softmax(self, node):
        a = self.attrs(node, ("axis",))
        x = self.tensor(node, node.input[0])
        if len(x.shape) != 1 or a.get("axis", -1) not in (1, -1):
            self.fail(
                node,
                f"Softmax is supported over the last axis of (N, K), got input "
                f"(N, {', '.join(map(str, x.shape))}) and axis {a.get('axis', -1)}",
            )
        self._activation(node, "softmax")

    def op_LeakyRelu(self, node):
        a = self.attrs(node, ("alpha",))
        x = self.tensor(node, node.input[0])
        layer = L.LeakyReLU(a.get("alpha", 0.01), name=self.layer_name(node))
        self.put(node.output[0], layer(x), node.input[0] in self.vec)

    def _vector(self, node):
        x = self.tensor(node, node.input[0])
        if len(x.shape) != 1:
            self.fail(
                node,
                f"expects a vector input (N, D), got (N, {', '.join(map(str, x.shape))}); "
                f"put a Flatten before it",
            )
        return x

    def _dense(self, node, w, b, out):
        x = self._vector(node)
        if w.ndim != 2 or w.shape[0] != x.shape[0]:
            self.fail(node, f"weight shape {w.shape} does not fit an input of {x.shape[0]}")
        act, out = self.fused_act(out, node)
        logits = act is None and bool(self.hint(node).get("emit_logits"))
        layer = L.Dense(
            w.shape[1],
            activation="softmax" if logits else act,
            use_bias=b is not None,
            name=self.layer_name(node),
        )
        layer.emit_logits = logits  # a softmax the loss applies: the layer gives logits
        y = layer(x)
        layer.params["w"] = owned(w)
        if b is not None:
            layer.params["b"] = owned(
                np.broadcast_to(b.reshape(-1) if b.size > 1 else b, (w.shape[1],))
            )
        self.put(out, y)

    def op_Gemm(self, node):
        a = self.attrs(node, ("alpha", "beta", "transA", "transB"))
        if a.get("transA", 0):
            self.fail(node, "transA=1 is not supported (the input must be (N, D))")
        w = self.constant(node, node.input[1], "B")
        w = (w.T if a.get("transB", 0) else w) * a.get("alpha", 1.0)
        b = None
        if len(node.input) > 2 and node.input[2]:
            b = self.constant(node, node.input[2], "C") * a.get("beta", 1.0)
            if b.size not in (1, w.shape[1]):
                self.fail(node, f"C of shape {b.shape} is not a bias of {w.shape[1]} units")
        self._dense(node, w, b, node.output[0])

    def op_MatMul(self, node):
        self.attrs(node, ())
        if self.rbf_nodes(node) is not None:
            self.rbf(node)
            return
        w = self.constant(node, node.input[1], "B")
        nxt = self.sole_consumer(node.output[0])
        b, out = None, node.output[0]
        if nxt is not None and nxt.op_type == "Add" and not list(nxt.attribute):
            other = [i for i in nxt.input if i != node.output[0]]
            if len(other) == 1 and other[0] in self.const:
                c = self.const[other[0]]
                if w.ndim == 2 and c.size == w.shape[1]:
                    b, out = c, nxt.output[0]
                    self.skip.add(id(nxt))
        self._dense(node, w, b, out)

    def op_Add(self, node):
        self.attrs(node, ())
        if any(i in self.const for i in node.input):
            self.fail(
                node, "an Add of a constant is supported only as the bias right after a MatMul"
            )
        a, b = (self.tensor(node, i) for i in node.input)
        act, out = self.fused_act(node.output[0], node)
        layer = L.Add(activation=act, name=self.layer_name(node))
        self.put(out, layer([a, b]), node.input[0] in self.vec)

    def op_Concat(self, node):
        a = self.attrs(node, ("axis",))
        xs = [self.tensor(node, i) for i in node.input]
        if a.get("axis") != 1 or any(len(t.shape) != 3 for t in xs):
            self.fail(
                node,
                f"only concatenation of maps along axis 1 (depth) is supported, "
                f"got axis {a.get('axis')}",
            )
        self.put(node.output[0], L.DepthConcat(name=self.layer_name(node))(xs))

    def _flatten(self, node):
        x = self.tensor(node, node.input[0])
        if len(x.shape) == 1:  # already (N, D): GlobalAvgPool's vector
            self.put(node.output[0], x)
            return
        self.put(node.output[0], L.Flatten(name=self.layer_name(node))(x))

    def op_Flatten(self, node):
        a = self.attrs(node, ("axis",))
        if a.get("axis", 1) != 1:
            self.fail(node, f"unsupported axis={a['axis']}; cnnsim flattens from axis 1")
        self._flatten(node)

    def op_Reshape(self, node):
        self.attrs(node, ("allowzero",))
        x = self.tensor(node, node.input[0])
        shape = [int(v) for v in self.constant(node, node.input[1], "shape").reshape(-1)]
        d = int(np.prod(x.shape))
        if len(shape) != 2 or shape[1] not in (-1, d) or shape[0] == -1 and shape[1] == -1:
            self.fail(node, f"only Reshape to (N, -1) is supported, got shape {shape}")
        self._flatten(node)

    def op_Dropout(self, node):
        a = self.attrs(node, ("ratio", "seed"))
        if len(node.output) > 1 and node.output[1]:
            self.fail(node, "the mask output is not supported")
        ratio = a.get("ratio", 0.5)
        if len(node.input) > 1 and node.input[1]:
            ratio = _short(float(self.constant(node, node.input[1], "ratio")))
        if len(node.input) > 2 and node.input[2]:
            self.fail(node, "a training_mode input is not supported (inference only)")
        x = self.tensor(node, node.input[0])
        self.put(
            node.output[0],
            L.Dropout(ratio, name=self.layer_name(node))(x),
            node.input[0] in self.vec,
        )


def _short(v):
    """ONNX stores floats as float32 (1e-05 comes back as 9.99999975e-06): the shortest
    decimal that float32 stands for (1e-05), the number the network was written with."""
    return float(str(np.float32(v)))


def _ceil_pads(n, k, s, before, after):
    """(before, after') for ceil_mode with explicit pads, PyTorch's / ONNX's rule."""
    out = geometry.ceil_div(n + before + after - k, s) + 1
    if (out - 1) * s >= n + before:
        out -= 1
    return before, max((out - 1) * s + k - n - before, after)


def from_onnx(path, name=None):
    """Read an ONNX file (or a loaded ``onnx.ModelProto``) into a ``cnnsim.Model``."""
    onnx = _onnx()
    if isinstance(path, (str, os.PathLike)):
        where = f"reading {os.fspath(path)!r}"
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{where}: no such file")
        try:
            model = onnx.load(os.fspath(path))
        except Exception as e:  # protobuf's DecodeError and friends: one line
            raise OnnxError(
                f"{where}: not an ONNX model ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
            ) from None
        default = os.path.splitext(os.path.basename(path))[0]
    else:
        model, where, default = path, "reading ONNX model", "onnx"
    name = name or model.graph.name or default
    return _Reader(model, where).run(name)


# =========================================================================================
# export
# =========================================================================================


class _Writer:
    def __init__(self, net):
        onnx = _onnx()
        self.h = onnx.helper
        self.nh = onnx.numpy_helper
        self.tp = onnx.TensorProto
        self.net = net
        self.nodes, self.inits = [], []
        self.hints = {}  # node name -> what the arithmetic cannot say (onnx_patterns)
        self.dtype = np.float32

    def const(self, name, a, dtype=None):
        a = np.array(a, dtype or self.dtype, order="C")  # 0-d stays 0-d (Dropout's ratio)
        self.inits.append(self.nh.from_array(a, name))
        return name

    def node(self, op, inputs, output, name, **attrs):
        self.nodes.append(self.h.make_node(op, list(inputs), [output], name=name, **attrs))
        return output

    def act(self, act, x, out, path):
        """Emit activation ``act`` reading ``x`` and writing ``out``."""
        if act is None or act == "linear":
            return self.node("Identity", [x], out, f"{path}/identity")
        if act == "relu":
            return self.node("Relu", [x], out, f"{path}/relu")
        if act == "sigmoid":
            return self.node("Sigmoid", [x], out, f"{path}/sigmoid")
        if act == "tanh":
            return self.node("Tanh", [x], out, f"{path}/tanh")
        if act == "softmax":
            return self.node("Softmax", [x], out, f"{path}/softmax", axis=1)
        if act == "scaled_tanh":  # 1.7159 tanh(2x/3), LeCun et al. 1998
            a = self.node(
                "Mul",
                [x, self.const(f"{path}/two_thirds", 2.0 / 3.0)],
                f"{path}:x23",
                f"{path}/scale_in",
            )
            t = self.node("Tanh", [a], f"{path}:tanh", f"{path}/tanh")
            return self.node("Mul", [t, self.const(f"{path}/A", 1.7159)], out, f"{path}/scale_out")
        raise OnnxError(f"to_onnx: layer {path!r}: activation {act!r} has no ONNX export")

    def layer(self, layer, ins, out):
        """Write ``layer`` by its class (``k_<class name>``, the nearest base class that
        has one: a subclass of Conv2D is written as a Conv2D)."""
        for cls in type(layer).__mro__:
            fn = getattr(self, "k_" + cls.__name__, None)
            if fn is not None:
                return fn(layer, ins, out, layer.path)
        raise OnnxError(
            f"to_onnx: layer {layer.path!r} ({type(layer).__name__}) has no ONNX export"
        )

    def _fused(self, layer, core_out, out, path):
        act = layer._act() if hasattr(layer, "_act") else layer.activation
        if act in (None, "linear"):
            return core_out
        return self.act(act, core_out, out, path)

    def _core_out(self, layer, out, path):
        act = layer._act() if hasattr(layer, "_act") else layer.activation
        return out if act in (None, "linear") else f"{path}:z"

    @staticmethod
    def _pads(layer):
        t, b, l, r = layer.window.pads
        return [t, l, b, r]

    def k_Conv2D(self, layer, ins, out, path):
        w = to_torch(layer, "w", layer.params["w"])
        inputs = [ins[0], self.const(f"{path}.weight", w)]
        if "b" in layer.params:
            inputs.append(self.const(f"{path}.bias", layer.params["b"]))
        z = self._core_out(layer, out, path)
        self.node(
            "Conv",
            inputs,
            z,
            path,
            kernel_shape=list(layer.kernel_size),
            strides=list(layer.stride),
            pads=self._pads(layer),
            group=layer.groups,
        )
        if layer.connections is not None:  # written full, its unconnected kernels zero
            self.hints[path] = {"table": table_hint(layer.table)}
        self._fused(layer, z, out, path)

    def k_MaxPool2D(self, layer, ins, out, path):
        self.node(
            "MaxPool",
            ins,
            out,
            path,
            kernel_shape=list(layer.size),
            strides=list(layer.stride),
            pads=self._pads(layer),
        )

    def k_AvgPool2D(self, layer, ins, out, path):
        self.node(
            "AveragePool",
            ins,
            out,
            path,
            kernel_shape=list(layer.size),
            strides=list(layer.stride),
            pads=self._pads(layer),
            count_include_pad=int(getattr(layer, "count_include_pad", False)),
        )

    def k_GlobalAvgPool(self, layer, ins, out, path):
        m = self.node("GlobalAveragePool", ins, f"{path}:maps", path)
        self.node("Flatten", [m], out, f"{path}/flatten", axis=1)

    def k_LRN(self, layer, ins, out, path):
        if layer.r % 2 == 0:
            raise OnnxError(
                f"to_onnx: layer {path!r} (LRN): r={layer.r} is even; ONNX's "
                f"window of an even size is not centred"
            )
        self.node(
            "LRN",
            ins,
            out,
            path,
            size=layer.r,
            alpha=layer.alpha * layer.r,
            beta=layer.beta,
            bias=layer.k,
        )

    def k_BatchNorm(self, layer, ins, out, path):
        p, b = layer.params, layer.buffers
        self.node(
            "BatchNormalization",
            [
                ins[0],
                self.const(f"{path}.weight", p["gamma"]),
                self.const(f"{path}.bias", p["beta"]),
                self.const(f"{path}.running_mean", b["running_mean"]),
                self.const(f"{path}.running_var", b["running_var"]),
            ],
            out,
            path,
            epsilon=layer.eps,
            momentum=layer.momentum,
        )

    def k_Dense(self, layer, ins, out, path):
        z = self._core_out(layer, out, path)
        w = self.const(f"{path}.weight", layer.params["w"])
        if "b" in layer.params:
            self.node("Gemm", [ins[0], w, self.const(f"{path}.bias", layer.params["b"])], z, path)
        else:
            self.node("MatMul", [ins[0], w], z, path)
        if layer.activation == "softmax" and layer._act() == "linear":
            self.hints[path] = {"emit_logits": True}  # it gives logits; the loss applies softmax
        self._fused(layer, z, out, path)

    def k_Flatten(self, layer, ins, out, path):
        self.node("Flatten", ins, out, path, axis=1)

    def k_Dropout(self, layer, ins, out, path):
        self.node("Dropout", [ins[0], self.const(f"{path}.ratio", layer.rate)], out, path)

    def k_Activation(self, layer, ins, out, path):
        if layer.activation == "linear":
            self.hints[path] = {"activation": "linear"}
            self.node("Identity", ins, out, path)
        elif layer.activation in ("relu", "sigmoid", "tanh", "softmax"):
            op = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax"}[
                layer.activation
            ]
            kw = {"axis": 1} if op == "Softmax" else {}
            self.node(op, ins, out, path, **kw)
        else:
            self.act(layer.activation, ins[0], out, path)

    def k_LeakyReLU(self, layer, ins, out, path):
        self.node("LeakyRelu", ins, out, path, alpha=layer.alpha)

    def k_Add(self, layer, ins, out, path):
        z = self._core_out(layer, out, path)
        acc = ins[0]
        for k, t in enumerate(ins[1:], start=1):
            last = k == len(ins) - 1
            acc = self.node(
                "Add", [acc, t], z if last else f"{path}:sum{k}", path if last else f"{path}/add{k}"
            )
        self._fused(layer, z, out, path)

    def k_DepthConcat(self, layer, ins, out, path):
        self.node("Concat", ins, out, path, axis=1)

    def k_Subsampling(self, layer, ins, out, path):
        c = layer.input_shape[0]
        p = self.node(
            "AveragePool",
            ins,
            f"{path}:mean",
            path,
            kernel_shape=list(layer.size),
            strides=list(layer.stride),
        )
        m = self.node(
            "Mul",
            [p, self.const(f"{path}.coef", layer.params["coef"].reshape(c, 1, 1))],
            f"{path}:scaled",
            f"{path}/coef",
        )
        z = self._core_out(layer, out, path)
        self.node(
            "Add",
            [m, self.const(f"{path}.bias", layer.params["bias"].reshape(c, 1, 1))],
            z,
            f"{path}/bias",
        )
        self._fused(layer, z, out, path)

    def k_RBF(self, layer, ins, out, path):
        # y_k = sum_j (x_j - w_kj)^2 = |x|^2 - 2 x.w_k + |w_k|^2
        w = np.asarray(layer.prototypes, np.float64)
        xw = self.node(
            "MatMul",
            [ins[0], self.const(f"{path}.minus_2w", -2.0 * w.T)],
            f"{path}:xw",
            f"{path}/dot",
        )
        ww = self.node(
            "Add",
            [xw, self.const(f"{path}.w_sq", (w * w).sum(axis=1))],
            f"{path}:xw_ww",
            f"{path}/plus_w_sq",
        )
        xx = self.node("ReduceSumSquare", ins, f"{path}:x_sq", f"{path}/x_sq", axes=[1], keepdims=1)
        self.node("Add", [ww, xx], out, path)
        if layer.trainable:
            self.hints[path] = {"trainable": True}

    def run(self, name):
        from ..graph import graph_of

        net = self.net
        g = graph_of(net)
        order = g.order()  # every output's layers: GoogLeNet's auxiliary heads too
        edge_name = {g.inputs[0]: "input"}
        for k in order:
            node = g.nodes[k]
            edge_name[node.output] = node.layer.path
        outs = _output_names(net, g)
        for e, n in zip(g.outputs, outs):
            edge_name[e] = n
        for k in order:
            node = g.nodes[k]
            self.layer(node.layer, [edge_name[e] for e in node.inputs], edge_name[node.output])
        f = self.tp.FLOAT
        x = self.h.make_tensor_value_info("input", f, ["N", *net.input_shape])
        ys = [
            self.h.make_tensor_value_info(n, f, ["N", *g.edges[e].shape])
            for e, n in zip(g.outputs, outs)
        ]
        graph = self.h.make_graph(self.nodes, name, [x], ys, self.inits)
        model = self.h.make_model(
            graph, producer_name="cnnsim", opset_imports=[self.h.make_opsetid("", OPSET)]
        )
        model.ir_version = 8
        write_hints(model, self.hints)
        write_preprocess(model, net)
        return model


def _output_names(net, g):
    """``"output"`` for the network's output, ``"<head>:output"`` for each extra output
    (``aux_heads``: GoogLeNet's ``aux1:output``, ``aux2:output``)."""
    heads = list(getattr(net, "aux_heads", {}))
    if len(heads) == len(g.outputs) - 1:
        return ["output"] + [f"{h}:output" for h in heads]
    return ["output"] + [f"output_{k}" for k in range(1, len(g.outputs))]  # two of one head


def to_onnx(net, path=None, name=None):
    """Write the built network ``net`` to ``path`` as ONNX (opset 13); returns the
    ``onnx.ModelProto``. Input ``"input" (N, *net.input_shape)``, outputs ``"output"`` and
    ``"<head>:output"`` for each extra output (GoogLeNet's auxiliary heads)."""
    onnx = _onnx()
    if not getattr(net, "built", False):
        raise OnnxError(
            f"to_onnx: network {getattr(net, 'name', net)!r} is not built; give it "
            f"an input_shape first"
        )
    model = _Writer(net).run(name or net.name)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model
