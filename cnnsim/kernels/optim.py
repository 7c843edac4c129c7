"""Optimizer updates, element by element (``cnnsim.train.optimizers`` calls them).

Arrays in, updated in place; no validation. Each element is computed with exactly the
operations NumPy's in-place expressions would use (``v *= mu; v -= lr * g; p += v`` in
the parameter's dtype, each product and sum rounded on its own, no fused multiply-add),
so the update does not depend on which of the two runs.
"""

from numba import prange

from ._twins import parallel_kernel


@parallel_kernel()
def sgd_momentum(p, v, g, lr, mu):
    """SGD with momentum, in place: ``v = mu * v - lr * g``; ``p += v``. ``p, v, g`` one
    shape and dtype (C-contiguous), ``lr, mu`` scalars of that dtype."""
    pf = p.reshape(-1)
    vf = v.reshape(-1)
    gf = g.reshape(-1)
    for i in prange(pf.shape[0]):
        t = vf[i] * mu
        t = t - lr * gf[i]
        vf[i] = t
        pf[i] = pf[i] + t
