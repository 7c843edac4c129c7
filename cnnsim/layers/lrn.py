"""Local response normalization across maps (AlexNet after C1 and C3; GoogLeNet).

    b_i = a_i (k + alpha * sum_{j=max(0, i - r//2)}^{min(i + r//2, f_n - 1)} a_j^2)^(-beta)

TensorFlow: ``depth_radius = r // 2``, ``bias = k``; PyTorch: ``LocalResponseNorm(size=r,
alpha=alpha * r, beta=beta, k=k)`` (PyTorch divides alpha by the window size).
"""
from .. import functional as F
import numpy as np

from .base import ALL, Layer


class LRN(Layer):
    kind = "LRN"
    explain_form = "maps"

    @classmethod
    def input_maps(cls, step, maps, k=0):
        """Map i reads maps ``max(0, i - r//2) .. min(i + r//2, C - 1)``."""
        if maps is ALL:
            return ALL
        r, n = step.facts["r"], step.input_shape[0]
        return {j for i in maps for j in range(max(0, i - r // 2), min(i + r // 2, n - 1) + 1)}

    @classmethod
    def explain(cls, step, c):
        """The maps ``j = max(0, i - r//2) .. min(i + r//2, C - 1)`` at (row, col); ``sum``
        is the normalizer ``s = k + alpha sum a_j^2``, ``y = a_i s^-beta``."""
        f = step.facts
        r, k, alpha, beta = f["r"], f["k"], f["alpha"], f["beta"]
        x = step.x[c.sample, :, c.row, c.col].astype(np.float64)
        chans = sorted(cls.input_maps(step, {c.map}))
        a = x[chans]
        s = k + alpha * float((a * a).sum())
        c.channels, c.inputs, c.rows, c.cols = chans, a, [c.row], [c.col]
        c.sum = s
        c.details.update(normalizer=s, formula="b_i = a_i (k + alpha sum a_j^2)^(-beta)",
                         r=r, k=k, alpha=alpha, beta=beta, a=float(x[c.map]))
        c.output = float(x[c.map] * s ** (-beta))
        c.scale = abs(c.output)

    def __init__(self, r=5, k=2.0, alpha=1e-4, beta=0.75, name=None):
        super().__init__(name)
        self.r, self.k, self.alpha, self.beta = int(r), float(k), float(alpha), float(beta)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"layer {self.path!r} (LRN): expected input maps (C, H, W), "
                             f"got shape {input_shape}")
        return input_shape

    def forward(self, x, training=False):
        self._x = x
        return F.lrn(x, self.r, self.k, self.alpha, self.beta)

    def backward(self, dy):
        return F.lrn_backward(dy, self._x, self.r, self.k, self.alpha, self.beta)

    def get_config(self):
        return {"name": self.name, "r": self.r, "k": self.k, "alpha": self.alpha, "beta": self.beta}
