"""Optimizers update ``layer.params`` in place from ``layer.grads``.

* SGD with momentum (and L2 weight decay added to the gradient):
  ``v = mu * v - lr * (g + wd * p)``;  ``p += v``
* Adam (Kingma & Ba 2015): ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
  ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with bias-corrected ``m_hat, v_hat``.

State is keyed by ``(layer path, parameter name)`` so it can be checkpointed.
Biases and batch-norm parameters are not decayed (the usual convention).
"""

import numpy as np

from .. import config
from ..functional._check import finite_number
from ..functional._dispatch import to_host
from ..kernels import optim as optim_kernels
from ..kernels._twins import serially


def _decays(layer, name):
    return name == "w"


class Optimizer:
    def __init__(self, lr, weight_decay=0.0):
        # the one place settings are checked: a NaN, negative or infinite rate trains to
        # NaN weights (or climbs the loss) while reporting success
        where = type(self).__name__
        self.lr = finite_number(lr, "learning rate (lr)", where, positive=True)
        self.weight_decay = finite_number(weight_decay, "weight decay", where, nonnegative=True)
        self.state = {}
        self.t = 0

    def step(self, net):
        self.t += 1
        for layer, name, p in net.parameters():
            g = to_host(layer.grads[name])  # grads live on the device on "cuda"
            if self.weight_decay and _decays(layer, name):
                g = g + self.weight_decay * p
            self._update(f"{layer.path}.{name}", p, g)

    def state_dict(self):
        flat = {f"{k}|{s}": v for k, d in self.state.items() for s, v in d.items()}
        return {"t": self.t, "lr": self.lr, "arrays": flat}

    def load_state_dict(self, sd):
        self.t = int(sd["t"])
        self.lr = finite_number(sd["lr"], "learning rate (lr)", type(self).__name__, positive=True)
        self.state = {}
        for key, v in sd["arrays"].items():
            k, s = key.rsplit("|", 1)
            self.state.setdefault(k, {})[s] = v


class SGD(Optimizer):
    def __init__(self, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = finite_number(momentum, "momentum", "SGD", nonnegative=True)
        if self.momentum >= 1:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")

    def _update(self, key, p, g):
        if self.momentum == 0.0:
            p -= (self.lr * g).astype(p.dtype)
            return
        st = self.state.get(key)
        if st is None:  # not setdefault: its default would be a new array every step
            st = self.state[key] = {"v": np.zeros_like(p)}
        v = st["v"]
        if p.flags.c_contiguous and v.flags.c_contiguous and g.dtype == p.dtype:
            # one pass instead of four NumPy ones (the same numbers: kernels.optim); the
            # parameters live on the host on every target
            args = (p, v, np.ascontiguousarray(g), p.dtype.type(self.lr))
            args += (p.dtype.type(self.momentum),)
            if 4 * p.size < config.serial_work:  # ~4 ns an element: small, one thread
                serially(optim_kernels.sgd_momentum, *args)
            else:
                optim_kernels.sgd_momentum(*args)
            return
        v *= self.momentum
        v -= (self.lr * g).astype(p.dtype)
        p += v


class Adam(Optimizer):
    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.beta1, self.beta2, self.eps = (
            finite_number(beta1, "beta1", "Adam", nonnegative=True),
            finite_number(beta2, "beta2", "Adam", nonnegative=True),
            finite_number(eps, "eps", "Adam", positive=True),
        )
        if self.beta1 >= 1 or self.beta2 >= 1:
            raise ValueError(f"Adam: beta1 and beta2 must be in [0, 1), got {beta1!r}, {beta2!r}")

    def _update(self, key, p, g):
        st = self.state.get(key)
        if st is None:
            st = self.state[key] = {"m": np.zeros_like(p), "v": np.zeros_like(p)}
        m, v = st["m"], st["v"]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        mh = m / (1 - self.beta1**self.t)
        vh = v / (1 - self.beta2**self.t)
        p -= (self.lr * mh / (np.sqrt(vh) + self.eps)).astype(p.dtype)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(name, lr, momentum=0.9, weight_decay=0.0):
    name = name.lower()
    if name == "sgd":
        return SGD(lr, momentum, weight_decay)
    if name == "adam":
        return Adam(lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")


def default_lr(net, name):
    """The learning rate ``cnnsim train`` uses when none is given: 0.05 for SGD, 0.001 for
    Adam, and 0.001 for SGD on a net whose output is LeNet-5's RBF layer.

    Why the RBF exception: its outputs are penalties, sums of 84 squared differences
    (hundreds, not units), so the softmax over their negatives starts saturated, and SGD at
    0.05 drives F6's scaled tanh into saturation, where it stays (measured on MNIST: 9.5 %
    test accuracy after 2 epochs, chance). At 0.001 it learns (86 % after one epoch on
    6,000 images). LeCun et al. (1998) also trained with small steps (0.0005 to 0.00001).
    """
    from .losses import output_leaf

    if name.lower() == "adam":
        return 1e-3
    return 1e-3 if output_leaf(net).penalty_output else 0.05
