"""Memory estimates before big runs: refuse with the figure instead of being OOM-killed.

    check_fits(training_bytes(net, batch), "training lenet5 at batch 64", "--batch-size")

The estimate of a training step (``training_bytes``) counts, per sample, every leaf's
output three times (the forward caches keep input, pre-activation and output) plus its
gradient once, and the parameters four times (weights, gradients, two optimizer moments).
It leaves out the copy of its input a convolution keeps in training, laid out for its
weight gradient (``F.conv2d(save=True)``: at most about one more output per layer). It is
an order of magnitude, meant to stop a run that cannot fit, not to budget one.
The limit is the memory the system reports available (``MemAvailable``), or
``$CNNSIM_MEMORY_LIMIT`` bytes when set.
"""

import math
import os

from ._npz import human_bytes


class MemoryLimitError(ValueError):
    """A run that would need more memory than the machine has."""


def available_bytes():
    env = os.environ.get("CNNSIM_MEMORY_LIMIT")
    if env:
        return int(float(env))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63


def _leaves(net):
    return net.all_leaves()  # auxiliary heads included


def training_bytes(net, batch, itemsize=4, acts_scale=1.0, params_scale=1.0):
    """About how many bytes one forward + backward pass of ``net`` at ``batch`` takes.

    ``acts_scale``/``params_scale`` extrapolate from a small stand-in of the network the
    caller means (a network too big to build is also too big to run): e.g. a tower of
    ``d`` layers of ``w`` maps estimated from one of ``d0`` layers of ``w0`` maps has
    ``(d/d0)(w/w0)`` times the activations and ``(d/d0)(w/w0)^2`` times the weights."""
    acts = sum(math.prod(l.output_shape) for l in _leaves(net) if l.output_shape)
    params = sum(p.size for l in _leaves(net) for p in l.params.values())
    return int((4 * batch * acts * acts_scale + 4 * params * params_scale) * itemsize)


def check_fits(nbytes, what, lower):
    """Raise a one-line ``MemoryLimitError`` when ``nbytes`` exceeds what is available;
    ``lower`` names the options that reduce it."""
    have = available_bytes()
    if nbytes > have:
        raise MemoryLimitError(
            f"{what} would need about {human_bytes(nbytes)} of memory, "
            f"more than the {human_bytes(have)} available; lower {lower}"
        )
