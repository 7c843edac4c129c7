"""How many layers should a skip connection span? (He et al. 2015, sec. 3.1: "if F has only
a single layer ... we have not observed advantages"; the lecture: "skipping a single layer
didn't give much improvement").

``skip_span()`` trains ``cnnsim.models.skip_cifar`` nets of each depth with shortcuts over
0 (plain), 1 and 2 conv+bn layers — the same layers, batch norm everywhere, the same data,
initialization seed and batch order — and returns their per-epoch curves. A one-layer unit
computes ``relu(bn(conv(x)) + x)``: almost linear in ``x`` plus a correction, which is why
the paper expected little from it. Scaled down: the result says what happens on these
digits with these settings, nothing more.
"""

from .. import models
from .runs import load_digits, run_config, train_runs


def skip_span(
    spans=(0, 1, 2),
    depths=(20, 56),
    width=0.25,
    limit=500,
    test_limit=500,
    epochs=10,
    batch_size=32,
    lr=0.1,
    seed=0,
    data="synthetic",
    data_dir=None,
    size=14,
    progress=None,
):
    """``{"config", "runs"}``; runs named ``"span0-20"`` (plain), ``"span1-20"``, ... with
    ``train_loss``, ``train_error``, ``test_error`` per epoch, ``params``, ``seconds``."""
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, int) or d < 8 or (d - 2) % 6:
            raise ValueError(f"skip-span: depth must be 6n+2 (8, 14, 20, 32, 44, 56, ...), got {d}")
    for s in spans:
        if isinstance(s, bool) or not isinstance(s, int) or s not in (0, 1, 2):
            raise ValueError(f"skip-span: span must be 0 (plain), 1 or 2 layers, got {s}")
    (xtr, ytr), (xte, yte), note = load_digits(data, size, data_dir, limit, test_limit)
    shape = xtr.shape[1:]
    builders = {
        f"span{s}-{d}": (
            lambda s=s, d=d: models.build(
                "skip_cifar",
                n=(d - 2) // 6,
                span=s,
                input_shape=shape,
                num_classes=10,
                width=width,
                seed=seed,
            )
        )
        for d in depths
        for s in spans
    }
    runs = train_runs(
        builders, (xtr, ytr), (xte, yte), epochs, batch_size, lr, seed, progress=progress
    )
    own = {"spans": list(spans), "depths": list(depths), "width": width}
    return {
        "config": run_config(own, xtr, xte, note, epochs, batch_size, lr, seed, size),
        "runs": runs,
    }
