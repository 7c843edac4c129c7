"""Benchmark (not a test): what recording a trace costs over a plain forward pass.

    python -m cnnsim.bench.trace_cost            # LeNet-5 batch 64, AlexNet 1 image

``overhead(net, x)`` -> the cost of ``record(net, x)`` over ``net(x)``: ``repeats`` pairs of
calls, alternated, after one warm-up call of each (Numba compilation not counted); the
median of the pairs' differences over the median plain call, the measure issue 20 asks
for. (The best of each, the measure before, swung from -6 % to +14 % between runs a
minute apart on a shared 2-vCPU VM; the paired median moved by 1-2 points.)
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
    """``{"plain_s", "traced_s"}`` (medians), ``"overhead"`` (median paired difference over
    the median plain call), ``"overhead_quartiles"`` (of the pairs' ratios), ``"pairs"``,
    ``"best_plain_s"``, ``"best_traced_s"``."""
    net(x)
    record(net, x)
    plain, traced = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        y = net(x)
        plain.append(time.perf_counter() - t0)
        del y  # both calls start with the same memory free
        t0 = time.perf_counter()
        tr = record(net, x)
        traced.append(time.perf_counter() - t0)
        del tr
    p, t = np.median(plain), np.median(traced)
    ratios = np.asarray(traced) / np.asarray(plain) - 1.0
    return {
        "plain_s": float(p),
        "traced_s": float(t),
        "overhead": float(np.median(np.subtract(traced, plain)) / p),
        "overhead_quartiles": [float(q) for q in np.percentile(ratios, [25, 75])],
        "pairs": repeats,
        "best_plain_s": min(plain),
        "best_traced_s": min(traced),
    }


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
    r = overhead(lenet, rng.random((64, 1, 32, 32), dtype=np.float32), repeats=300)
    r2 = recorder_time(lenet, rng.random((64, 1, 32, 32), dtype=np.float32), repeats=20)
    print(
        f"LeNet-5 batch 64: recorder callbacks {1e3 * r2['recorder_s']:.2f} ms per forward "
        f"({100 * r2['share']:.1f}% of the {1e3 * r2['forward_s']:.1f} ms forward around them)"
    )
    print(
        f"LeNet-5 batch 64: plain {1e3 * r['plain_s']:.2f} ms, traced {1e3 * r['traced_s']:.2f} ms "
        f"(medians of {r['pairs']} pairs), overhead {100 * r['overhead']:+.1f}%"
    )
    alex = models.build("alexnet")
    x = rng.random((1,) + alex.input_shape, dtype=np.float32)
    r2 = recorder_time(alex, x, repeats=3)
    print(
        f"AlexNet 1 image: recorder callbacks {1e3 * r2['recorder_s']:.2f} ms per forward "
        f"({100 * r2['share']:.1f}% of the {1e3 * r2['forward_s']:.1f} ms forward around them)"
    )
    r = overhead(alex, x, repeats=20)
    print(
        f"AlexNet 1 image: plain {1e3 * r['plain_s']:.1f} ms, traced {1e3 * r['traced_s']:.1f} ms "
        f"(medians of {r['pairs']} pairs), overhead {100 * r['overhead']:+.1f}%"
    )
    m = trace_memory(alex, x)
    print(
        f"AlexNet full trace of 1 image: peak {m['peak_bytes'] / 2**20:.1f} MiB allocated while "
        f"recording (outputs kept {m['trace_output_bytes'] / 2**20:.1f} MiB; parameters, "
        f"allocated before, {m['param_bytes'] / 2**20:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
