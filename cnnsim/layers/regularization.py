"""Dropout and batch normalization: layers that behave differently in training."""
import numpy as np

from .. import config, functional as F
from .base import Layer
from .describe import num, source
from .explain import explain_elementwise, same_position_terms


class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability ``1 - rate`` and scale
    by ``1 / (1 - rate)``; identity at inference. Seeded: the mask stream is drawn from a
    Generator created at build time from the network's seed."""
    kind = "Dropout"
    keeps_range = True

    @classmethod
    def explain(cls, step, c):
        """At inference the identity."""
        explain_elementwise(step, c, lambda v: v)
        c.details["rate"] = float(step.facts.get("rate", 0.0))
        c.activation = None

    @classmethod
    def grad_terms(cls, step, k, sample, pos):
        """Inference: the identity, the gradient passes unchanged."""
        return same_position_terms(step, k, sample, pos, 1.0, "kept (inference)")

    @classmethod
    def describe(cls, c, top=10, width=100):
        """Kept or dropped, and the scale (inference: every unit kept, scale 1)."""
        rate = c.details["rate"]
        return [f"  x = {num(c.sum)} (same position of {source(c)})",
                f"  inference: dropout is off, the unit is kept and scaled by 1: output "
                f"{num(c.output)}",
                f"  (in training each unit is kept with probability {num(1 - rate)} and scaled "
                f"by 1/(1 - {num(rate)}) = {num(1 / (1 - rate))}, or dropped to 0)"]

    def __init__(self, rate=0.5, name=None):
        super().__init__(name)
        self.rate = float(rate)
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"Dropout {self.name!r}: rate must be in [0, 1), got {rate!r}")

    def _build_params(self, input_shape, rng):
        self.rng = np.random.default_rng(rng.integers(2**63))

    def reseed(self, seed):
        self.rng = np.random.default_rng(seed)

    def forward(self, x, training=False):
        y, self._mask = F.dropout(x, self.rate, self.rng, training)
        return y

    def backward(self, dy):
        return F.dropout_backward(dy, self._mask)

    def get_config(self):
        return {"name": self.name, "rate": self.rate}


class BatchNorm(Layer):
    """Batch normalization per map (``(N, C, H, W)``) or per feature (``(N, D)``):

        y = gamma * (x - mean) / sqrt(var + eps) + beta

    Training uses the batch statistics and updates the running averages
    (``running = momentum * running + (1 - momentum) * batch``); inference uses the running ones.
    """
    kind = "BatchNorm"
    title = "Batch norm"

    @classmethod
    def explain(cls, step, c):
        """Inference: ``gamma (v - running_mean) / sqrt(running_var + eps) + beta``."""
        p = step.params
        eps = step.facts.get("eps", 1e-5)
        mean, var = float(p["running_mean"][c.map]), float(p["running_var"][c.map])
        g, bt = float(p["gamma"][c.map]), float(p["beta"][c.map])
        c.details.update(mean=mean, var=var, gamma=g, beta=bt, eps=eps,
                         statistics="running (inference)")
        explain_elementwise(step, c, lambda v: g * (v - mean) / np.sqrt(var + eps) + bt)
        c.details["x_hat"] = (c.sum - mean) / np.sqrt(var + eps)
        c.activation = None

    @classmethod
    def grad_terms(cls, step, k, sample, pos):
        """Inference: ``dy/dx = gamma / sqrt(running_var + eps)``."""
        p, m = step.params, pos[0]
        eps = step.facts.get("eps", 1e-5)
        g = float(p["gamma"][m]) / np.sqrt(float(p["running_var"][m]) + eps)
        return same_position_terms(step, k, sample, pos, g, "gamma / sqrt(var + eps)")

    @classmethod
    def describe(cls, c, top=10, width=100):
        """x, the mean and variance used (running averages at inference), gamma, beta."""
        d = c.details
        return [f"  y = gamma * (x - mean) / sqrt(var + eps) + beta, map {c.map}; statistics "
                f"used: {d['statistics']} averages",
                f"  x = {num(c.sum)}, mean = {num(d['mean'])}, var = {num(d['var'])}, "
                f"eps = {num(d['eps'])}",
                f"  (x - mean) / sqrt(var + eps) = {num(d['x_hat'])}",
                f"  gamma {num(d['gamma'])} * {num(d['x_hat'])} + beta {num(d['beta'])} = "
                f"{num(c.output)}"]

    def __init__(self, momentum=0.9, eps=1e-5, name=None):
        super().__init__(name)
        self.momentum, self.eps = float(momentum), float(eps)

    def _build_params(self, input_shape, rng):
        c = input_shape[0]
        self.params = {"gamma": np.ones(c, dtype=config.dtype), "beta": np.zeros(c, dtype=config.dtype)}
        self.grads = {k: np.zeros(v.shape, v.dtype) for k, v in self.params.items()}  # calloc: no memory until written
        self.buffers = {"running_mean": np.zeros(c, dtype=config.dtype),
                        "running_var": np.ones(c, dtype=config.dtype)}

    def forward(self, x, training=False):
        y, self._cache = F.batch_norm(x, self.params["gamma"], self.params["beta"],
                                      self.buffers["running_mean"], self.buffers["running_var"],
                                      training, self.momentum, self.eps)
        return y

    def backward(self, dy):
        dx, dg, db = F.batch_norm_backward(dy, self._cache)
        self.grads["gamma"], self.grads["beta"] = dg, db
        return dx

    def macs(self):
        return int(np.prod(self.input_shape))   # one multiply-add per element at inference

    def get_config(self):
        return {"name": self.name, "momentum": self.momentum, "eps": self.eps}
