"""The ONNX subgraphs ``to_onnx`` writes for layers ONNX has no operator for, read back.

ONNX has no operator for three of LeNet-5's layers, so the export writes each as a small
subgraph that onnxruntime runs; the import recognises the subgraph by its structure and
constants (not by its names, so a hand-written equivalent is read too) and gives back the
one cnnsim layer:

=====================================  ==================================================
subgraph (x: the layer's input)        cnnsim layer
=====================================  ==================================================
Mul(x, 2/3) -> Tanh -> Mul(., 1.7159)  the scaled tanh ``1.7159 tanh(2x/3)`` (LeCun et al.
                                       1998): fused into the Conv / Gemm / Subsampling
                                       before it when it is named ``<layer>/scale_in`` or
                                       not named, else an ``Activation`` layer
AveragePool(k, stride k, no padding)   ``Subsampling(k)``: ``coef * mean + bias`` per map,
-> Mul(., coef (C,1,1))                ``coef`` and ``bias`` its two trainable vectors
-> Add(., bias (C,1,1))
MatMul(x, -2 w^T) -> Add(., |w_k|^2)   ``RBF``: ``y_k = sum_j (x_j - w_kj)^2
-> Add(., ReduceSumSquare(x, axis 1))  = |x|^2 - 2 x.w_k + |w_k|^2``, prototypes ``w (K, D)``
=====================================  ==================================================

What the arithmetic cannot say travels in the model's metadata (``metadata_props`` key
``cnnsim.layers``: JSON ``{node name: {hint: value}}``), which other tools show and ignore:
a connection table (``table``: LeNet-5's C3 is written as a full convolution whose
unconnected kernels are zero), trainable RBF prototypes (``trainable``), a softmax layer that
gives logits (``emit_logits``: GoogLeNet's auxiliary heads, whose softmax the loss applies)
and an ``Activation("linear")`` layer (``activation``, written as an ``Identity``). A
torchvision-compatible model's ImageNet preprocessing (``net.preprocess``: resize, crop,
mean, std, and its note) travels as ``cnnsim.preprocess``, so ``cnnsim step`` prepares a
photo for the imported network as for the zoo model.
"""

import json

import numpy as np

from .. import layers as L

SCALED_TANH = (2.0 / 3.0, 1.7159)  # 1.7159 tanh(2x/3), cnnsim.functional.scaled_tanh
METADATA_KEY = "cnnsim.layers"
PREPROCESS_KEY = "cnnsim.preprocess"
PATTERN_OPS = ("Mul", "ReduceSumSquare")
PATTERNS = (
    "Mul(x, 2/3) -> Tanh -> Mul(1.7159) (scaled tanh), AveragePool -> Mul(coef) -> "
    "Add(bias) (LeNet-5 subsampling), |x|^2 - 2 x.w + |w|^2 with ReduceSumSquare (RBF)"
)


def owned(a):
    """A float32 C-contiguous copy the layer owns (ONNX's arrays are read-only views of
    the file, and two nodes may share one initializer)."""
    return np.array(a, dtype=np.float32, order="C")


def read_hints(model, where, error):
    """``{node name: {hint: value}}`` from the model's ``cnnsim.layers`` metadata ({} when
    absent); a value that is not a JSON object of objects is ``error`` (one line)."""
    for p in model.metadata_props:
        if p.key != METADATA_KEY:
            continue
        try:
            hints = json.loads(p.value)
        except ValueError as e:
            raise error(f"{where}: metadata {METADATA_KEY!r} is not JSON ({e})") from None
        if not isinstance(hints, dict) or not all(isinstance(v, dict) for v in hints.values()):
            raise error(f"{where}: metadata {METADATA_KEY!r} must map node names to objects")
        return hints
    return {}


def write_hints(model, hints):
    """Store ``hints`` (``{node name: {hint: value}}``) in ``model``'s metadata."""
    if hints:
        p = model.metadata_props.add()
        p.key, p.value = METADATA_KEY, json.dumps(hints, sort_keys=True)


def write_preprocess(model, net):
    """Store ``net.preprocess`` (and ``net.preprocess_note``) in ``model``'s metadata."""
    pre = getattr(net, "preprocess", None)
    if pre:
        p = model.metadata_props.add()
        note = getattr(net, "preprocess_note", None)
        p.key, p.value = PREPROCESS_KEY, json.dumps(dict(pre, **({"note": note} if note else {})))


def read_preprocess(model, net, where, error):
    """Set ``net.preprocess`` (and ``preprocess_note``) from ``model``'s metadata, if any;
    anything but ``{resize, crop: int, mean, std: 3 numbers}`` is ``error`` (one line)."""
    for p in model.metadata_props:
        if p.key != PREPROCESS_KEY:
            continue
        try:
            pre = json.loads(p.value)
            pre = {
                "resize": int(pre["resize"]),
                "crop": int(pre["crop"]),
                "mean": tuple(float(v) for v in pre["mean"]),
                "std": tuple(float(v) for v in pre["std"]),
                "note": pre.get("note"),
            }
            ok = len(pre["mean"]) == len(pre["std"]) == 3 and min(pre["std"]) > 0
        except (ValueError, TypeError, KeyError, AttributeError):
            ok = False
        if not ok:
            raise error(
                f"{where}: metadata {PREPROCESS_KEY!r} must be JSON "
                f'{{"resize": int, "crop": int, "mean": [3 numbers], "std": [3 positive]}}'
            )
        note = pre.pop("note")
        net.preprocess = pre
        if note:
            net.preprocess_note = str(note)


def table_hint(table):
    """A connection table ``(F, C)`` bool as rows of ``0``/``1`` characters (JSON-friendly)."""
    return ["".join("1" if v else "0" for v in row) for row in np.asarray(table, bool)]


def table_from_hint(rows, shape):
    """The ``(F, C)`` bool table of ``table_hint``'s rows, or None when ``rows`` is not
    ``F`` strings of ``C`` zeros and ones."""
    if (
        not isinstance(rows, list)
        or len(rows) != shape[0]
        or not all(isinstance(r, str) and len(r) == shape[1] and set(r) <= {"0", "1"} for r in rows)
    ):
        return None
    return np.array([[ch == "1" for ch in row] for row in rows], dtype=bool)


class Patterns:
    """Mixed into the ONNX reader: recognise the subgraphs above (``self`` has ``const``,
    ``producer``, ``sole_consumer``, ``skip``, ``tensor``, ``fail``, ``put``...)."""

    # ---- matching -------------------------------------------------------------------
    def scalar_operand(self, node, value):
        """The non-constant input of a two-input ``node`` whose other input is the scalar
        constant ``value`` (float32 tolerance), or None."""
        if len(node.input) != 2 or list(node.attribute):
            return None
        for a, b in (node.input, node.input[::-1]):
            c = self.const.get(b)
            if a not in self.const and c is not None and c.size == 1:
                if np.isclose(float(c.reshape(-1)[0]), value, rtol=1e-6, atol=0):
                    return a
        return None

    def scaled_tanh_nodes(self, mul):
        """``[Mul, Tanh, Mul]`` of a scaled tanh starting at ``mul``, or None."""
        if mul.op_type != "Mul" or self.scalar_operand(mul, SCALED_TANH[0]) is None:
            return None
        tanh = self.sole_consumer(mul.output[0])
        if tanh is None or tanh.op_type != "Tanh" or list(tanh.attribute):
            return None
        out = self.sole_consumer(tanh.output[0])
        if out is None or out.op_type != "Mul" or self.scalar_operand(out, SCALED_TANH[1]) is None:
            return None
        if self.scalar_operand(out, SCALED_TANH[1]) != tanh.output[0]:
            return None
        return [mul, tanh, out]

    def per_map(self, node, name_in, maps):
        """The constant operand of ``node`` (``Mul``/``Add`` of ``name_in`` and a constant of
        shape ``(C, 1, 1)`` or ``(1, C, 1, 1)``) as a vector ``(C,)``, or None."""
        if node is None or len(node.input) != 2 or list(node.attribute):
            return None
        other = [i for i in node.input if i != name_in]
        if len(other) != 1 or other[0] not in self.const:
            return None
        c = self.const[other[0]]
        if c.shape not in ((maps, 1, 1), (1, maps, 1, 1)):
            return None
        return c.reshape(-1)

    def rbf_nodes(self, mm):
        """``(add_w, reduce, add_x, w)`` of an RBF written around MatMul ``mm``, or None."""
        if mm.op_type != "MatMul" or mm.input[1] not in self.const:
            return None
        m = self.const[mm.input[1]]
        add_w = self.sole_consumer(mm.output[0])
        if m.ndim != 2 or add_w is None or add_w.op_type != "Add":
            return None
        c = [i for i in add_w.input if i != mm.output[0]]
        if len(c) != 1 or c[0] not in self.const:
            return None
        add_x = self.sole_consumer(add_w.output[0])
        if add_x is None or add_x.op_type != "Add":
            return None
        other = [i for i in add_x.input if i != add_w.output[0]]
        red = self.producer.get(other[0]) if len(other) == 1 else None
        if red is None or red.op_type != "ReduceSumSquare" or red.input[0] != mm.input[0]:
            return None
        a = {x.name: self.helper.get_attribute_value(x) for x in red.attribute}
        axes = list(a.get("axes", [])) or (
            [int(v) for v in self.const[red.input[1]].reshape(-1)]
            if len(red.input) > 1 and red.input[1] in self.const
            else []
        )
        if axes not in ([1], [-1]) or a.get("keepdims", 1) != 1:
            return None
        w = -0.5 * m.T.astype(np.float64)  # exact: the export wrote -2 w
        ww, cw = (w * w).sum(axis=1), self.const[c[0]].astype(np.float64).reshape(-1)
        if cw.shape != ww.shape or not np.allclose(cw, ww, rtol=1e-5, atol=1e-6 * ww.max()):
            return None
        return add_w, red, add_x, w

    # ---- building -------------------------------------------------------------------
    def hint(self, node):
        return self.hints.get(node.name, {})

    def op_Mul(self, node):
        nodes = self.scaled_tanh_nodes(node)
        if nodes is None:
            self.fail(node, f"Mul is supported only inside these subgraphs: {PATTERNS}")
        x_name = self.scalar_operand(node, SCALED_TANH[0])
        x = self.tensor(node, x_name)
        base = node.name[: -len("/scale_in")] if node.name.endswith("/scale_in") else None
        layer = L.Activation("scaled_tanh", name=self.layer_name(node, base))
        self.skip.update(id(n) for n in nodes[1:])
        self.put(nodes[-1].output[0], layer(x), x_name in self.vec)

    def op_ReduceSumSquare(self, node):
        add_x = self.sole_consumer(node.output[0])
        add_w = mm = None
        if add_x is not None and add_x.op_type == "Add":
            other = [i for i in add_x.input if i != node.output[0]]
            add_w = self.producer.get(other[0]) if len(other) == 1 else None
        if add_w is not None and add_w.op_type == "Add":
            mm = next(
                (
                    self.producer[i]
                    for i in add_w.input
                    if i in self.producer and self.producer[i].op_type == "MatMul"
                ),
                None,
            )
        if mm is None or self.rbf_nodes(mm) is None:
            self.fail(node, f"ReduceSumSquare is supported only inside an RBF: {PATTERNS}")
        self.rbf(mm)

    def rbf(self, mm):
        """Build the RBF around MatMul ``mm`` (``rbf_nodes`` matched); named after the last
        Add (the export names it after the layer)."""
        add_w, red, add_x, w = self.rbf_nodes(mm)
        x = self._vector(mm)
        hint = self.hint(add_x)
        layer = L.RBF(
            w.shape[0], trainable=bool(hint.get("trainable")), name=self.layer_name(add_x)
        )
        y = layer(x)
        (layer.params if layer.trainable else layer.buffers)["w"] = owned(w)
        self.skip.update(id(n) for n in (mm, add_w, red, add_x))
        self.put(add_x.output[0], y)

    def subsampling(self, node, a):
        """AveragePool ``node`` (attributes ``a``) followed by a per-map Mul and Add: build a
        ``Subsampling`` and return True; False when the pattern does not match."""
        k = tuple(a.get("kernel_shape", ()))
        if (
            len(k) != 2
            or tuple(a.get("strides", (1, 1))) != k
            or any(a.get("pads", [0, 0, 0, 0]))
            or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID")
            or a.get("ceil_mode", 0)
            or any(d != 1 for d in a.get("dilations", [1, 1]))
        ):
            return False
        x = self.val.get(node.input[0])
        if x is None or len(x.shape) != 3 or node.input[0] in self.vec:
            return False
        mul = self.sole_consumer(node.output[0])
        coef = self.per_map(mul, node.output[0], x.shape[0]) if mul is not None else None
        if coef is None or mul.op_type != "Mul":
            return False
        add = self.sole_consumer(mul.output[0])
        bias = self.per_map(add, mul.output[0], x.shape[0]) if add is not None else None
        if bias is None or add.op_type != "Add":
            return False
        self.skip.update((id(mul), id(add)))
        act, out = self.fused_act(add.output[0], node)
        layer = L.Subsampling(k, activation=act, name=self.layer_name(node))
        y = layer(x)
        layer.params["coef"] = owned(coef)
        layer.params["bias"] = owned(bias)
        self.put(out, y)
        return True
