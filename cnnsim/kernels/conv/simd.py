"""SIMD vectors for Numba: the operations the register tile (:mod:`.regtile`) needs.

Numba has no vector type, and LLVM vectorizes only innermost loops over arrays, so a
kernel cannot say "keep these 24 vectors in registers across this loop". Here a
:class:`Vec` is a Numba type whose value *is* an LLVM vector ``<L x float>``; a local
variable of that type lives in a register (LLVM's mem2reg turns it into an SSA value), so
accumulators written as ``a = vfma_bcast(a, s, w)`` inside a loop stay in registers for
the whole loop (checked in the generated code: ``vfmadd231ps`` on ``zmm``/``ymm`` with no
accumulator loads or stores in the loop; docs/performance.md, round three).

* ``vload(arr, i)`` -> ``arr[i : i + L]`` as a vector, ``vstore(arr, i, v)`` the reverse;
  ``vload_n(arr, i, n)`` loads ``n`` lanes (a constant) whatever the CPU's width, for a
  kernel whose tile shape is fixed (the 1x1 product's, :mod:`.pointwise`);
* ``vfma_bcast(a, s, w)`` -> ``a + s * w`` lane by lane with ``s`` a scalar broadcast to
  every lane, in one rounding (``llvm.fma``: the same result as a scalar ``fma`` per lane,
  so a tile computes exactly what the scalar loop with fused multiply-adds would);
* ``at(arr, i)`` -> ``arr[i]`` without Numba's negative-index wraparound (which costs a
  compare and a conditional move per load in the hot loop);
* ``fma(a, b, c)`` -> ``a * b + c`` in one rounding for scalars (``llvm.fma``), so a kernel
  needs no ``fastmath`` flag for its fused multiply-adds (a flag would reach everything
  else the kernel computes, e.g. an activation's polynomial, and change its rounding);
* ``transpose_block(src, s0, ss, dst, d0, ds, n)`` -> an ``n x n`` block transposed in
  registers: the tile's layout changes move numbers this way (no arithmetic);
* ``prefetch(arr, i)`` asks for the cache line of ``arr[i]`` to be brought into L1
  (``llvm.prefetch``, a hint: it reads nothing into the program, cannot fault and
  changes no result, so ``i`` may lie past the array's end).

``L`` = :data:`VEC_BITS` / (bits of the array's dtype): 16 float32 / 8 float64 on an
AVX-512 CPU, 8 / 4 with AVX2. **No bounds checks**: ``arr`` must be C-contiguous (of any
number of dimensions: ``i`` is a flat index into its data, so a kernel reads a 2-D panel
without a ``reshape``, which costs a helper call per use) and the caller guarantees
``0 <= i`` and ``i + L <= arr.size`` (the layouts add slack).

:data:`VEC_BITS` and :data:`VEC_REGS` come from the CPU features Numba compiles for
(``NUMBA_CPU_FEATURES`` when set, else the host's); Numba's cache is keyed by those
features, so a cached kernel always matches them. ``VEC_BITS = 0``: no FMA vectors
(the register tile is not used). The explicit vectors use the full width even where
LLVM's tuning prefers 256 bits for its own loop vectorizer (``config.vector_width``).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model


def _cpu_features():
    """``{feature: enabled}`` of the CPU Numba compiles for."""
    from numba.core import config as nconfig

    if nconfig.CPU_FEATURES:
        return {f[1:]: f[0] == "+" for f in nconfig.CPU_FEATURES.split(",") if f}
    try:
        import llvmlite.binding as ll

        return dict(ll.get_host_cpu_features())
    except Exception:  # no host feature map (unusual platform): no vectors
        return {}


def _vector_shape(feats):
    """``(VEC_BITS, VEC_REGS)`` for a feature map: AVX-512 has 32 512-bit registers, AVX2
    with FMA 16 256-bit ones; anything else (0, 0): the register tile is not used."""
    if feats.get("avx512f", False):
        return 512, 32
    if feats.get("avx2", False) and feats.get("fma", False):
        return 256, 16
    return 0, 0


VEC_BITS, VEC_REGS = _vector_shape(_cpu_features())
#: which kernels this CPU runs: the tiles (so the paths some layers take, and how their
#: float32 sums round) differ between the three; within one, results are the same bits
KERNELS = {512: "AVX-512", 256: "AVX2"}.get(VEC_BITS, "no vector")


class Vec(types.Type):
    """An LLVM vector of ``lanes`` values of ``dtype`` (a Numba scalar type)."""

    def __init__(self, dtype, lanes):
        self.dtype = dtype
        self.lanes = lanes
        super().__init__(name=f"Vec({dtype}, {lanes})")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        elem = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(elem, fe_type.lanes))


def lanes(dtype):
    """Lanes of a :class:`Vec` of ``dtype`` (a NumPy or Numba dtype) on this CPU."""
    bits = getattr(dtype, "bitwidth", None) or 8 * dtype.itemsize
    return VEC_BITS // bits if VEC_BITS else 0


LANES32 = VEC_BITS // 32  # lanes of a float32 / float64 vector (0: no FMA vectors)
LANES64 = VEC_BITS // 64


def _vec_of(arr):
    if not (isinstance(arr, types.Array) and isinstance(arr.dtype, types.Float)):
        return None
    return Vec(arr.dtype, lanes(arr.dtype))


def _address(context, builder, aryty, ary, idx):
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.gep(data, [idx])


def _elem_align(context, dtype):
    return context.get_abi_alignment(context.get_value_type(dtype))


@intrinsic
def vload(typingctx, arr, idx):
    """``arr.flat[idx : idx + L]`` of a C-contiguous float array, as a :class:`Vec`."""
    vt = _vec_of(arr)
    if vt is None or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        p = _address(context, builder, sig.args[0], args[0], args[1])
        vp = builder.bitcast(p, ir.PointerType(context.get_value_type(vt)))
        return builder.load(vp, align=_elem_align(context, arr.dtype))

    return vt(arr, idx), codegen


@intrinsic(prefer_literal=True)
def vload_n(typingctx, arr, idx, n):
    """``arr.flat[idx : idx + n]`` as a :class:`Vec` of ``n`` lanes (``n`` a literal integer;
    LLVM splits a vector wider than the CPU's into registers)."""
    if not (
        isinstance(arr, types.Array)
        and isinstance(arr.dtype, types.Float)
        and isinstance(idx, types.Integer)
        and isinstance(n, types.IntegerLiteral)
    ):
        return None
    vt = Vec(arr.dtype, n.literal_value)

    def codegen(context, builder, sig, args):
        p = _address(context, builder, sig.args[0], args[0], args[1])
        vp = builder.bitcast(p, ir.PointerType(context.get_value_type(vt)))
        return builder.load(vp, align=_elem_align(context, arr.dtype))

    return vt(arr, idx, n), codegen


@intrinsic
def vstore(typingctx, arr, idx, v):
    """``arr.flat[idx : idx + len(v)] = v`` (a vector of any width, of ``arr``'s dtype)."""
    if not (
        isinstance(v, Vec)
        and isinstance(arr, types.Array)
        and arr.dtype == v.dtype
        and isinstance(idx, types.Integer)
    ):
        return None

    def codegen(context, builder, sig, args):
        p = _address(context, builder, sig.args[0], args[0], args[1])
        vp = builder.bitcast(p, ir.PointerType(args[2].type))
        builder.store(args[2], vp, align=_elem_align(context, arr.dtype))
        return context.get_dummy_value()

    return types.none(arr, idx, v), codegen


@intrinsic
def vfma_bcast(typingctx, acc, s, w):
    """``acc + s * w`` lane by lane, ``s`` a scalar broadcast to every lane, one rounding."""
    if not (isinstance(acc, Vec) and w == acc and isinstance(s, types.Number)):
        return None

    def codegen(context, builder, sig, args):
        a, x, wv = args
        vty = a.type
        x = context.cast(builder, x, sig.args[1], acc.dtype)
        i32 = ir.IntType(32)
        one = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(i32, 0))
        zeros = ir.Constant(ir.VectorType(i32, vty.count), None)
        bcast = builder.shuffle_vector(one, ir.Constant(vty, ir.Undefined), zeros)
        suffix = "f32" if isinstance(vty.element, ir.FloatType) else "f64"
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vty, [vty, vty, vty]), f"llvm.fma.v{vty.count}{suffix}"
        )
        return builder.call(fma, [bcast, wv, a])

    return acc(acc, s, w), codegen


@intrinsic
def at(typingctx, arr, idx):
    """``arr.flat[idx]`` of a C-contiguous array, without wraparound or bounds check."""
    if not (isinstance(arr, types.Array) and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return builder.load(_address(context, builder, sig.args[0], args[0], args[1]))

    return arr.dtype(arr, idx), codegen


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint that ``arr.flat[idx]`` will be read soon: its cache line is fetched into L1
    (``llvm.prefetch``: read, highest locality, data cache). The register tile's input
    rows of many channels are too many streams for the hardware prefetcher; asking for
    the line a few tiles ahead made ResNet's 3x3 forward tile ~10 % faster at one thread
    and 0-8 % at two (docs/performance.md, fifteenth session)."""
    if not (isinstance(arr, types.Array) and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        p = _address(context, builder, sig.args[0], args[0], args[1])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0i8",
        )
        builder.call(fn, [builder.bitcast(p, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(arr, idx), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` in one rounding (``llvm.fma``), for float scalars of one type."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        ty = args[0].type
        suffix = "f32" if isinstance(ty, ir.FloatType) else "f64"
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ty, [ty, ty, ty]), f"llvm.fma.{suffix}"
        )
        return builder.call(fn, list(args))

    return a(a, b, c), codegen


def _transpose(builder, rows):
    """``rows`` (L LLVM vectors of L lanes, L a power of two) -> their transpose: log2(L)
    rounds; round ``t`` swaps bit ``t`` of the row index with bit ``t`` of the lane index,
    two shuffles per pair of rows ``(i, i | t)`` (``vpermt2ps``/``vshufps``/... as LLVM
    sees fit)."""
    L = len(rows)
    i32 = ir.IntType(32)

    def mask(ks):
        return ir.Constant(ir.VectorType(i32, L), [ir.Constant(i32, k) for k in ks])

    t = 1
    while t < L:
        # new row i (bit t clear) lane j: row i | (j & t), lane j & ~t; new row i | t:
        # row i | (j & t), lane j | t (a lane index >= L picks from the second row)
        lo = mask([j if not j & t else L + (j ^ t) for j in range(L)])
        hi = mask([j | t if not j & t else L + j for j in range(L)])
        out = list(rows)
        for i in range(L):
            if not i & t:
                out[i] = builder.shuffle_vector(rows[i], rows[i | t], lo)
                out[i | t] = builder.shuffle_vector(rows[i], rows[i | t], hi)
        rows = out
        t *= 2
    return rows


@intrinsic(prefer_literal=True)
def transpose_block(typingctx, src, s0, ss, dst, d0, ds, n):
    """``dst.flat[d0 + a*ds + b] = src.flat[s0 + b*ss + a]`` for ``a, b < n``: an ``n x n``
    block (``n`` a literal power of two) read as ``n`` vectors, transposed in registers,
    written as ``n`` vectors. The layout changes around the register tile are
    transpositions: one number at a time, ~4 cycles a number; in blocks, under 1 (the
    ResNet 3x3 output at batch 8: 0.93 ms -> 0.17 ms, docs/performance.md).
    Offsets count elements from each array's first one (a C-contiguous array's flat
    indices; the rows must have unit stride). No bounds checks (as :func:`vload`);
    ``src`` and ``dst`` of one float dtype."""
    if not (
        isinstance(src, types.Array)
        and isinstance(src.dtype, types.Float)
        and isinstance(dst, types.Array)
        and dst.dtype == src.dtype
        and all(isinstance(a, types.Integer) for a in (s0, ss, d0, ds))
        and isinstance(n, types.IntegerLiteral)
    ):
        return None
    L = n.literal_value
    if L < 1 or L & (L - 1):
        return None
    vt = Vec(src.dtype, L)

    def codegen(context, builder, sig, args):
        src_, dst_ = args[0], args[3]
        s0_, ss_, d0_, ds_ = (
            context.cast(builder, args[k], sig.args[k], types.intp) for k in (1, 2, 4, 5)
        )
        vp = ir.PointerType(context.get_value_type(vt))
        align = _elem_align(context, src.dtype)

        def at_row(aryty, ary, start, step, k):
            idx = builder.add(start, builder.mul(step, ir.Constant(step.type, k)))
            return builder.bitcast(_address(context, builder, aryty, ary, idx), vp)

        rows = [builder.load(at_row(src, src_, s0_, ss_, b), align=align) for b in range(L)]
        for a, col in enumerate(_transpose(builder, rows)):
            builder.store(col, at_row(dst, dst_, d0_, ds_, a), align=align)
        return context.get_dummy_value()

    return types.none(src, s0, ss, dst, d0, ds, n), codegen
