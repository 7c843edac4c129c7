"""What cnnsim is compared with: a NumPy im2col+matmul convolution and PyTorch (optional).

The im2col baseline is the textbook alternative to direct convolution (patches copied into
a matrix, then one BLAS matmul); it is here as a reference point, never used by cnnsim.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _im2col(xp, kh, kw, sh, sw):
    """``xp (N, C, Hp, Wp)`` -> ``cols (N, Ho, Wo, C*KH*KW)`` (a copy: the memory cost)."""
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # N,C,Ho,Wo,KH,KW
    n, c, ho, wo = win.shape[:4]
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n, ho, wo, c * kh * kw)


def im2col_conv(x, w, b, stride, pads):
    """Forward: returns ``y (N, F, Ho, Wo)`` and the cached ``cols`` for the backward pass."""
    t, bo, l, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    f, _, kh, kw = w.shape
    cols = _im2col(xp, kh, kw, stride, stride)
    y = cols @ w.reshape(f, -1).T + b  # (N, Ho, Wo, F)
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2)), cols


def im2col_conv_backward(dy, cols, x_shape, w, stride, pads):
    """Backward from the cached columns: ``dx`` by col2im (scatter-add), ``dw``, ``db``."""
    n, c, h, wd = x_shape
    f, _, kh, kw = w.shape
    t, bo, l, r = pads
    dyt = dy.transpose(0, 2, 3, 1)  # (N, Ho, Wo, F)
    dw = (dyt.reshape(-1, f).T @ cols.reshape(-1, cols.shape[-1])).reshape(w.shape)
    db = dyt.sum(axis=(0, 1, 2))
    dcols = (dyt @ w.reshape(f, -1)).reshape(n, dy.shape[2], dy.shape[3], c, kh, kw)
    dxp = np.zeros((n, c, h + t + bo, wd + l + r), dtype=dy.dtype)
    ho, wo = dy.shape[2], dy.shape[3]
    for u in range(kh):  # col2im: one strided add per tap
        for v in range(kw):
            dxp[:, :, u : u + stride * ho : stride, v : v + stride * wo : stride] += dcols[
                :, :, :, :, u, v
            ].transpose(0, 3, 1, 2)
    return dxp[:, :, t : t + h, l : l + wd], dw, db


def torch_module():
    """``torch`` if importable, else None (PyTorch is never a dependency)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def blas_info():
    """Which BLAS NumPy's matmul runs (via threadpoolctl when installed), as text."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return (
        "; ".join(
            f"{i.get('internal_api')} {i.get('version')} "
            f"{i.get('architecture', '')} threads={i.get('num_threads')}"
            for i in libs
        )
        or "none found"
    )
