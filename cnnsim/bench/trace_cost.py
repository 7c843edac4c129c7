"""Benchmark (not a test): what recording a trace costs over a plain forward pass.

    python -m cnnsim.bench.trace_cost            # LeNet-5 batch 64, AlexNet 1 image

``overhead(net, x)`` -> best-of-``repeats`` seconds of ``net(x)`` and of ``record(net, x)``
and their ratio (after one warm-up call of each, so Numba compilation is not counted).
``recorder_time(net, x)`` -> seconds spent building the trace's steps (robust to a busy
machine, where whole-pass timings swing by tens of percent). ``trace_memory(net, x)`` -> peak bytes NumPy allocated while recording a full trace
(``tracemalloc``; the parameters, allocated before, are reported separately).
"""

import time
import tracemalloc

import numpy as np

from ..engine.trace import Recorder, Trace, record
from ..graph import graph_of
from ..layers.base import observe


def overhead(net, x, repeats=5):
    net(x)
    record(net, x)
    plain, traced = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        net(x)
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        record(net, x)
        traced.append(time.perf_counter() - t0)
    p, t = min(plain), min(traced)
    return {"plain_s": p, "traced_s": t, "overhead": t / p - 1.0}


class _TimedRecorder(Recorder):
    spent = 0.0

    def _add_step(self, *a):  # where the recorder's work is (on_forward only queues)
        t0 = time.perf_counter()
        super()._add_step(*a)
        self.spent += time.perf_counter() - t0


def recorder_time(net, x, repeats=5):
    """Seconds the recorder spends building steps (the engine's own cost, immune to the
    noise of a shared machine) and the forward time around them; best of ``repeats``."""
    best = None
    for _ in range(repeats + 1):
        rec = _TimedRecorder(
            Trace(model="bench", input_shape=x.shape[1:], input=x), graph=graph_of(net)
        )
        t0 = time.perf_counter()
        with observe(rec):
            y = net(x)
        rec.finish(y)
        total = time.perf_counter() - t0
        r = (rec.spent, total - rec.spent)
        best = r if best is None or r[0] < best[0] else best
    return {"recorder_s": best[0], "forward_s": best[1], "share": best[0] / best[1]}


def trace_memory(net, x):
    params = sum(v.nbytes for _, _, v in net.parameters())
    net(x)  # warm up (compilation), then measure a fresh recording
    tracemalloc.start()
    tracemalloc.reset_peak()
    tr = record(net, x)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    kept = sum(s.y.nbytes for s in tr if s.y is not None)
    return {"peak_bytes": peak, "param_bytes": params, "trace_output_bytes": kept}


def main():
    from cnnsim import models

    rng = np.random.default_rng(0)
    lenet = models.build("lenet5")
    r = overhead(lenet, rng.random((64, 1, 32, 32), dtype=np.float32), repeats=20)
    r2 = recorder_time(lenet, rng.random((64, 1, 32, 32), dtype=np.float32), repeats=20)
    print(
        f"LeNet-5 batch 64: recorder callbacks {1e3 * r2['recorder_s']:.2f} ms per forward "
        f"({100 * r2['share']:.1f}% of the {1e3 * r2['forward_s']:.1f} ms forward around them)"
    )
    print(
        f"LeNet-5 batch 64: plain {1e3 * r['plain_s']:.2f} ms, traced {1e3 * r['traced_s']:.2f} ms, "
        f"overhead {100 * r['overhead']:+.1f}%"
    )
    alex = models.build("alexnet")
    x = rng.random((1,) + alex.input_shape, dtype=np.float32)
    r2 = recorder_time(alex, x, repeats=3)
    print(
        f"AlexNet 1 image: recorder callbacks {1e3 * r2['recorder_s']:.2f} ms per forward "
        f"({100 * r2['share']:.1f}% of the {1e3 * r2['forward_s']:.1f} ms forward around them)"
    )
    r = overhead(alex, x, repeats=3)
    print(
        f"AlexNet 1 image: plain {1e3 * r['plain_s']:.1f} ms, traced {1e3 * r['traced_s']:.1f} ms, "
        f"overhead {100 * r['overhead']:+.1f}%"
    )
    m = trace_memory(alex, x)
    print(
        f"AlexNet full trace of 1 image: peak {m['peak_bytes'] / 2**20:.1f} MiB allocated while "
        f"recording (outputs kept {m['trace_output_bytes'] / 2**20:.1f} MiB; parameters, "
        f"allocated before, {m['param_bytes'] / 2**20:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
