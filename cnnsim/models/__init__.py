"""The model zoo: each model is a function returning a built ``Sequential`` network.

    from cnnsim import models
    net = models.build("lenet5")                 # by name (what the CLI uses)
    net = models.lenet5(variant="paper")         # or directly

``MODELS`` maps a name to its builder; every builder accepts ``input_shape``,
``num_classes``, ``width`` (a width multiplier) and ``seed`` where they make sense.
"""

from __future__ import annotations

from typing import Any, Callable

from ..layers.base import Layer

Builder = Callable[..., Layer]
MODELS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    def deco(fn):
        MODELS[name] = fn
        return fn

    return deco


def build(name: str, **options: Any) -> Layer:
    """Build a model by name; unknown names get a one-line error listing the valid ones."""
    _load_all()
    key = name.lower().replace("-", "").replace("_", "")
    for k, fn in MODELS.items():
        if k.replace("-", "").replace("_", "") == key:
            return fn(**options)
    raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")


def available() -> list[str]:
    _load_all()
    return sorted(MODELS)


def _load_all():
    import importlib
    import pkgutil

    for m in pkgutil.iter_modules(__path__):
        if not m.name.startswith("_"):
            importlib.import_module(f"{__name__}.{m.name}")


# The builders themselves, so ``models.lenet5(...)`` works as well as ``models.build("lenet5")``.
from .alexnet import alexnet  # noqa: E402,F401
from .googlenet import googlenet  # noqa: E402,F401
from .lenet import lenet5  # noqa: E402,F401
from .resnet import resnet18, resnet34  # noqa: E402,F401
from .towers import plain_cifar, resnet_cifar, tower  # noqa: E402,F401
