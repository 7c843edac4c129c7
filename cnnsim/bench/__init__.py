"""``cnnsim bench``'s library: time cnnsim's kernels beside NumPy, PyTorch and the slow
reference on the lecture's layers. Returns plain data; ``cnnsim.cli.bench_cmd`` prints it.

    from cnnsim.bench import run_bench
    report = run_bench(only="lenet", is_quick=True)
"""

from .cases import ALL_CASES, CONV_CASES, POOL_CASES, ConvCase, PoolCase, select  # noqa: F401
from .run import EXTENSIONS, run_bench  # noqa: F401
