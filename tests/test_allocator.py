"""The allocator setting of ``cnnsim.kernels.keep_freed_memory``: kernel outputs come from
memory the process already mapped (glibc's heap) instead of a fresh ``mmap`` per call.

Checked in fresh processes, since the setting is applied once, at import: a kernel's
20 MB output held alive must not be an ``mmap`` block with the setting on, and must be one
with it switched off (so the test can fail)."""

import platform
import subprocess
import sys

import pytest
from cases import child_env

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the allocator setting applies to glibc (Linux) only",
)

PROBE = r"""
import ctypes
import numpy as np
from cnnsim.kernels import MEMORY_WHY
from cnnsim.kernels.normalization import batch_norm_train_forward


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
x = np.ones((4, 8, 256, 320), np.float32)  # 10.5 MB; two outputs of that size
before = libc.mallinfo2().hblkhd
out = batch_norm_train_forward.serial(x, np.ones(8, np.float32), np.zeros(8, np.float32), 1e-5)
print(libc.mallinfo2().hblkhd - before)
print(MEMORY_WHY)
"""


def _probe(**env):
    full = child_env(**env)
    r = subprocess.run(
        [sys.executable, "-c", PROBE], env=full, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    mapped, why = r.stdout.strip().splitlines()[-2:]
    return int(mapped), why


def test_kernel_outputs_come_from_the_heap_not_fresh_mappings():
    mapped, why = _probe(CNNSIM_KEEP_FREED_MEMORY="1")
    assert why.startswith("freed memory kept for reuse"), why
    assert mapped < 1 << 20, f"{mapped} bytes of kernel output were freshly mmapped"


def test_switched_off_the_outputs_are_fresh_mappings_again():
    mapped, why = _probe(CNNSIM_KEEP_FREED_MEMORY="0")
    assert "config.keep_freed_memory off" in why
    assert mapped >= 2 * 10_000_000, f"only {mapped} bytes mmapped with the setting off"
