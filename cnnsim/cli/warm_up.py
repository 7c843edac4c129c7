"""Compile before timing: ``warm_up(net, x, echo)`` runs the network once so that every
kernel a trace calls is compiled (or loaded from Numba's cache) before anything is timed,
and says so while it happens ("compiling kernels for this machine, first run only", with
progress) instead of leaving a first run silent. Used by ``cnnsim step``; see
docs/performance.md.
"""

COMPILING = "compiling kernels for this machine, first run only"
PREPARING = "preparing kernels (compiling any this model needs for the first time)"


def _kernel_modules(path, prefix):
    """Names of the CPU kernel modules under ``path``, packages (``conv/``) included; the
    CUDA twins (``cuda/``) and private modules left out."""
    import pkgutil

    names = []
    for m in pkgutil.iter_modules(path):
        if m.name.startswith("_") or m.name == "cuda":
            continue
        names.append(prefix + m.name)
        if m.ispkg:
            names += _kernel_modules([f"{path[0]}/{m.name}"], f"{prefix}{m.name}.")
    return names


def _kernel_dispatchers():
    """Every cached Numba function of the CPU kernel modules (imported: cheap, no compiling),
    both twins of each parallel kernel (``cnnsim.kernels._twins``) included."""
    import importlib

    from numba.core.dispatcher import Dispatcher

    import cnnsim.kernels as K
    from cnnsim.kernels._twins import ParallelKernel

    found = {}  # id -> dispatcher: a kernel imported by another module counts once
    for name in _kernel_modules(list(K.__path__), "cnnsim.kernels."):
        try:
            mod = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module that cannot load is not ours to report
            continue
        found.update(
            (id(d), d)
            for v in vars(mod).values()
            for d in (v.dispatchers() if isinstance(v, ParallelKernel) else (v,))
            if isinstance(d, Dispatcher) and getattr(d, "_cache", None) is not None
        )
    return list(found.values())


def _cache_empty(dispatchers):
    """True when Numba's cache holds nothing of cnnsim's kernels yet (a first run)."""
    import os

    try:
        return not any(os.path.exists(d._cache._cache_file._index_path) for d in dispatchers)
    except AttributeError:  # Numba's cache internals moved: fall back to timing
        return False


def _counts(dispatchers):
    """(kernel signatures compiled, loaded from the cache) by this process so far."""
    try:
        return (
            sum(len(d.stats.cache_misses) for d in dispatchers),
            sum(len(d.stats.cache_hits) for d in dispatchers),
        )
    except AttributeError:
        return None, None


def warm_up(net, x, echo, after=1.0):
    """Run ``net`` once on ``x`` so that every kernel the trace calls is compiled (or loaded
    from Numba's cache) before anything is timed; returns the seconds taken.

    Numba compiles a kernel at its first call, for the dtypes and paths actually used (here
    the model's dtype and the layers it has), and caches the machine code on disk. When
    the cache is empty the message says "compiling ... first run only" at once, with the
    layers done so far; otherwise it speaks only when preparing takes longer than
    ``after`` seconds (new kernels for this model, or a busy machine), and the last line
    counts what was compiled and what was loaded."""
    import threading
    import time

    from cnnsim import config
    from cnnsim.layers.base import observe

    leaves = [l.path for l in net.leaves()]
    disps = _kernel_dispatchers() if config.target == "cpu" else []
    first = _cache_empty(disps)
    state = {"told": False, "done": 0, "lock": threading.Lock()}
    t0 = time.perf_counter()

    def tell(what):
        with state["lock"]:
            if state["done"] < len(leaves) and not state["told"]:
                state["told"] = True
                echo(f"{what} ...")

    from cnnsim.engine.stats import array_stats

    class _Progress:
        def on_forward(self, layer, xin, y, dt):
            if not state["done"]:
                array_stats(y)  # the trace's statistics kernel: compiled here, not later
            with state["lock"]:
                state["done"] += 1
                if state["told"]:
                    echo(
                        f"  {layer.path} ready ({state['done']}/{len(leaves)}, "
                        f"{time.perf_counter() - t0:.1f} s)"
                    )

        def on_backward(self, *a):
            pass

    if first:
        tell(COMPILING)
    timer = threading.Timer(after, tell, (PREPARING,))
    timer.daemon = True
    timer.start()
    try:
        with observe(_Progress()):
            net.forward(x)
    finally:
        timer.cancel()
    took = time.perf_counter() - t0
    if state["told"]:
        made, loaded = _counts(disps)
        what = (
            "kernels ready"
            if made is None
            else f"{made} kernel(s) compiled, {loaded} loaded from the cache"
        )
        echo(f"{what}, in {took:.1f} s; the ms column times warm calls")
    return took
