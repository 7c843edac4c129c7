"""Dropout: a layer that behaves differently in training (batch norm: ``normalization``)."""
import numpy as np

from .. import functional as F
from .base import Layer
from .explain import explain_elementwise


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
