"""Small networks for the engine tests (imported by tests/test_engine_*.py)."""

from cnnsim import layers as L


def small_alexnet(act="relu"):
    """AlexNet's ingredients, small: strided conv, LRN, overlapping max pool, a grouped
    conv (the two-GPU split), same-padded convs, dropout, dense layers."""
    return L.Sequential(
        [
            L.Conv2D(4, 5, 2, activation=act, name="C1"),
            L.LRN(r=3, k=2.0, alpha=1e-2, beta=0.75, name="N1"),
            L.MaxPool2D(3, 2, name="S1"),
            L.Conv2D(6, 3, 1, "same", activation=act, groups=2, name="C2"),
            L.MaxPool2D(3, 2, name="S2"),
            L.Flatten(name="flat"),
            L.Dense(8, activation=act, name="F1"),
            L.Dropout(0.5, name="drop"),
            L.Dense(5, activation="softmax", name="out"),
        ],
        input_shape=(3, 23, 23),
        seed=2,
        name="small-alexnet",
    )


def small_googlenet_resnet(act="relu"):
    """An inception module, a BatchNorm, a projection residual unit and an identity one,
    global average pooling: both kinds of joins."""
    inception = L.Concat(
        [
            L.Sequential([L.Conv2D(2, 1, activation=act, name="1x1")], name="b1"),
            L.Sequential(
                [
                    L.Conv2D(2, 1, activation=act, name="reduce"),
                    L.Conv2D(3, 3, padding="same", activation=act, name="3x3"),
                ],
                name="b2",
            ),
            L.Sequential(
                [
                    L.Conv2D(1, 1, activation=act, name="reduce"),
                    L.Conv2D(2, 5, padding="same", activation=act, name="5x5"),
                ],
                name="b3",
            ),
            L.Sequential(
                [
                    L.MaxPool2D(3, 1, "same", name="pool"),
                    L.Conv2D(1, 1, activation=act, name="proj"),
                ],
                name="b4",
            ),
        ],
        name="inception",
    )
    return L.Sequential(
        [
            L.Conv2D(4, 3, 2, "same", activation=act, name="conv1"),
            L.BatchNorm(name="bn1"),
            inception,
            L.ResidualUnit(
                [
                    L.Conv2D(6, 3, 2, "same", activation=act, name="a"),
                    L.Conv2D(6, 3, 1, "same", name="b"),
                ],
                shortcut=[L.Conv2D(6, 1, 2, name="proj")],
                activation=act,
                name="res1",
            ),
            L.ResidualUnit(
                [
                    L.Conv2D(6, 3, 1, "same", activation=act, name="a"),
                    L.Conv2D(6, 3, 1, "same", name="b"),
                ],
                activation=act,
                name="res2",
            ),
            L.GlobalAvgPool(name="gap"),
            L.Dense(4, name="logits"),
            L.Activation("softmax", name="softmax"),
        ],
        input_shape=(3, 12, 12),
        seed=3,
        name="small-googlenet-resnet",
    )


def random_neurons(shape, rng, k):
    for _ in range(k):
        if len(shape) == 3:
            yield tuple(int(rng.integers(d)) for d in shape)
        else:
            yield int(rng.integers(shape[0])), 0, 0
