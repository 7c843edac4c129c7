"""Entry point of the bench's subprocess workers (``cnnsim.bench.extensions``): each prints
one JSON line. A module of its own so that ``python -m`` does not re-run a module the
package has already imported.

    python -m cnnsim.bench.worker train cnnsim 2 20
    python -m cnnsim.bench.worker network torch resnet18 2 3 8 224
    python -m cnnsim.bench.worker trace alexnet
    python -m cnnsim.bench.worker memory paper
"""

import json
import sys

from . import extensions


def main(argv):
    if argv[0] == "train":
        print(json.dumps({"step_s": extensions.train_worker(argv[1], int(argv[2]), int(argv[3]))}))
    elif argv[0] == "network":
        print(
            json.dumps(
                {"step_s": extensions.network_worker(argv[1], argv[2], *map(int, argv[3:7]))}
            )
        )
    elif argv[0] == "trace":
        print(json.dumps(extensions.trace_worker(argv[1])))
    elif argv[0] == "memory":
        print(json.dumps(extensions.memory_worker(argv[1])))
    else:
        raise SystemExit(f"unknown worker {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
