"""Local response normalization across maps (AlexNet after C1 and C3; GoogLeNet).

    b_i = a_i (k + alpha * sum_{j=max(0, i - r//2)}^{min(i + r//2, f_n - 1)} a_j^2)^(-beta)

TensorFlow: ``depth_radius = r // 2``, ``bias = k``; PyTorch: ``LocalResponseNorm(size=r,
alpha=alpha * r, beta=beta, k=k)`` (PyTorch divides alpha by the window size).
"""
from .. import functional as F
from .base import Layer


class LRN(Layer):
    kind = "LRN"

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
