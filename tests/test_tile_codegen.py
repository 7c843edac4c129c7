"""The register tiles as compiled for both kinds of CPU, checked on any x86-64 machine.

Each ISA's tiles are compiled, never run, in a subprocess that tells Numba which CPU it
compiles for (``NUMBA_CPU_NAME`` and ``NUMBA_CPU_FEATURES``; ``simd.VEC_BITS`` follows
them), so CI on an AVX2 machine checks the AVX-512 code as well. In the innermost loop
that holds a tile's multiply-adds there must be RW x NV fused multiply-adds per tap, each
on full-width registers (``zmm`` with AVX-512, ``ymm`` with AVX2), and no vector register
moved to or from the stack: a spilled sum costs a store and a load every tap (AVX2's
former 4 x 3 forward tile did that in its unrolled 3x3 loop: 45 stack references, its
forward 4-8 % slower than the 3 x 4 tile; docs/performance.md, twenty-first session).
"""

import json
import os
import platform
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"), reason="the tiles are x86-64 vector code"
)

_AVX2 = (
    "+64bit,+cmov,+cx8,+cx16,+fxsr,+mmx,+sse,+sse2,+sse3,+ssse3,+sse4.1,+sse4.2,+popcnt,"
    "+sahf,+xsave,+avx,+avx2,+fma,+f16c,+bmi,+bmi2,+lzcnt,+movbe,+pclmul"
)
_AVX512 = _AVX2 + ",+avx512f,+avx512cd,+avx512dq,+avx512bw,+avx512vl"
# (ISA, CPU name: LLVM's scheduling model for it, features): an AMD and an Intel model of
# each ISA (~12 s of compiling each; skylake, alderlake, znver2/3/5, icelake-server and
# sapphirerapids gave the same counts as their neighbours here when tried by hand)
CPUS = [
    ("avx2", "znver1", _AVX2),
    ("avx2", "haswell", _AVX2),
    ("avx512", "skylake-avx512", _AVX512),
    ("avx512", "znver4", _AVX512),
]
# Known, not measured (no such CPU here): LLVM's Haswell model schedules the unrolled
# 3x3 loop of AVX2's 3 x 4 tile with one sum and two inputs through the stack once per
# 9 taps (8 moves a pass of 108 multiply-adds; docs/performance.md, twenty-second session)
KNOWN_STACK_MOVES = {("haswell", "row_3x4", "9 taps unrolled"): 8}

# compiled in the subprocess: each of the ISA's tiles (the register tile's forward, dx and
# dw tiles, the 1x1 product's) at the signatures the kernels call them with (float32), its
# assembly printed as JSON
SCRIPT = r"""
import json, numba
from cnnsim.kernels.conv import pointwise, regtile, simd, regtile_tiles as T

f32, i64 = numba.float32, numba.int64
arr = f32[::1]
def row_sig(toff, tap):
    return (arr, i64, i64, arr, i64, toff, tap, arr, i64, i64, i64, i64, arr, i64)
dw_sig = (arr, i64, i64[::1], i64[:, ::1], f32[:, :, :, ::1], arr, f32[:, :, ::1])
fwd = [(regtile.RW_A, regtile.NV_A), (regtile.RW_B, regtile.NV_B)]
dw = [(regtile.DW_RW_A, regtile.DW_NV_A), (regtile.RW_B, regtile.NV_B)]
cases = []
for rw, nv in fwd:
    sigs = {"all taps": row_sig(i64[::1], numba.none), "live taps": row_sig(i64[::1], i64[::1])}
    for k in regtile.UNROLL_TAPS:  # a tuple of k offsets: the tap loop unrolled whole
        sigs[f"{k} taps unrolled"] = row_sig(numba.types.UniTuple(i64, k), numba.none)
    for label, sig in sigs.items():
        cases.append((f"row_{rw}x{nv}", label, rw * nv * (len(sig[5]) if label.endswith("unrolled") else 1), sig))
for rw, nv in dw:
    cases.append((f"dw_tile_{rw}x{nv}", "dw", rw * nv, dw_sig))
# the 1x1 layers' matrix product (pointwise.py): MR rows x NR columns of sums
mr, nr = pointwise.MR, pointwise.NR
pw_sig = (f32[:, ::1], i64, f32[:, :, ::1], i64, i64, i64, f32[:, ::1])
cases.append((f"tile_{mr}x{nr}", "1x1", mr * nr // simd.lanes(f32), pw_sig))
out = {"vec_bits": simd.VEC_BITS, "cases": []}
for name, label, fmas, sig in cases:
    fn = getattr(pointwise if label == "1x1" else T, name)
    fn.compile(sig)
    out["cases"].append({"tile": name, "sig": label, "fmas": fmas, "asm": fn.inspect_asm(sig)})
print(json.dumps(out))
"""


def _innermost_fma_loop(asm):
    """The body of the smallest loop (a label and a later jump back to it) that holds
    fused multiply-adds: the lines between them."""
    lines = asm.splitlines()
    labels = {m.group(1): i for i, l in enumerate(lines) if (m := re.match(r"^(\.\w+):", l))}
    best = None
    for j, line in enumerate(lines):
        m = re.match(r"^\s+j\w+\s+(\.\w+)\s*$", line)
        if m and labels.get(m.group(1), j) < j:
            body = lines[labels[m.group(1)] : j + 1]
            if any("vfmadd" in b for b in body) and (best is None or len(body) < len(best)):
                best = body
    return best or []


@pytest.mark.parametrize("isa,cpu,features", CPUS, ids=[c[1] for c in CPUS])
def test_each_isa_s_tiles_compile_to_full_width_fmas_and_keep_their_sums_in_registers(
    isa, cpu, features, tmp_path
):
    env = dict(
        os.environ,
        NUMBA_CPU_NAME=cpu,
        NUMBA_CPU_FEATURES=features,
        NUMBA_CACHE_DIR=str(tmp_path),  # a fresh cache: Numba shows no code it loaded
    )
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    reg = {"avx512": "zmm", "avx2": "ymm"}[isa]
    assert got["vec_bits"] == {"avx512": 512, "avx2": 256}[isa]
    assert len(got["cases"]) == {"avx512": 7, "avx2": 9}[isa]  # forward x 2 or 3, dw, 1x1
    for case in got["cases"]:
        where = f"{cpu}: {case['tile']} ({case['sig']})"
        loop = _innermost_fma_loop(case["asm"])
        fmas = [line for line in loop if "vfmadd" in line]
        # one pass of the loop: a tap (a position for dw), or two where LLVM unrolled it
        assert fmas and len(fmas) % case["fmas"] == 0, f"{where}: {len(fmas)} multiply-adds"
        assert all(f"%{reg}" in line for line in fmas), f"{where}: not {reg}"
        moves = [line for line in loop if "(%rsp)" in line and re.search(r"%[xyz]mm", line)]
        known = KNOWN_STACK_MOVES.get((cpu, case["tile"], case["sig"]), 0)
        assert len(moves) <= known, f"{where}: vector registers through the stack:\n" + "\n".join(
            moves
        )
