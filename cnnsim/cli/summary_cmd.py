"""``cnnsim summary MODEL``: a model as the lecture's table, with the notes where the
table and the arithmetic disagree. No math here: ``cnnsim.models.summary`` does it."""

import json

import click

from .options import is_onnx, load_onnx


def _parse_option(text):
    """``key=value`` with value read as int, float, bool or string."""
    if "=" not in text:
        raise click.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint="--option")
    key, value = text.split("=", 1)
    low = value.lower()
    if low in ("true", "false"):
        return key, low == "true"
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, value


def _first_line(fn):
    para = (fn.__doc__ or "").strip().split("\n\n")[0]
    text = " ".join(para.replace("``", "").split())
    return text.split(". ")[0].rstrip(".")


@click.command("summary")
@click.argument("model", required=False, metavar="MODEL|FILE.onnx")
@click.option(
    "--variant",
    "-v",
    default=None,
    help="Model variant, e.g. lecture/paper/torchvision (AlexNet), paper/torchvision (GoogLeNet), paper/modern (LeNet-5).",
)
@click.option(
    "--input-size",
    nargs=2,
    type=click.IntRange(min=1),
    default=None,
    metavar="H W",
    help="Input height and width (the number of channels stays the model's).",
)
@click.option(
    "--option",
    "-o",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other builder option, e.g. -o n=9 (resnet_cifar), -o width=0.5.",
)
@click.option(
    "--notation",
    default="table",
    show_default=True,
    type=click.Choice(["table", "lecture"]),
    help="lecture: kernel, stride and padding in one column as the GoogLeNet slides "
    "write them (3x3 + 2(S) = 3x3 window, stride 2, SAME padding)",
)
@click.option(
    "--dense-twin",
    is_flag=True,
    help="Add a note: the parameters if every convolution were a dense layer "
    "with the same inputs and outputs (why CNNs).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable JSON object.")
@click.option("--list", "list_models", is_flag=True, help="List the available models and exit.")
def summary(model, variant, input_size, options, notation, dense_twin, as_json, list_models):
    """Print MODEL's layers as the lecture's table: maps, size, kernel, stride, padding,
    activation, output shape, parameters and multiply-adds, with notes where the
    lecture's numbers and the arithmetic disagree.

    \b
    Examples:
      cnnsim summary alexnet
      cnnsim summary alexnet --variant paper
      cnnsim summary lenet5 --variant modern --json
      cnnsim summary resnet_cifar -o n=9
      cnnsim summary mynet.onnx
      cnnsim summary alexnet --dense-twin
      cnnsim summary googlenet --notation lecture
    """
    from .. import models
    from ..models import summary as S

    names = models.available()
    if list_models:
        width = max(map(len, names))
        for name in names:
            click.echo(f"{name.ljust(width)}  {_first_line(models.MODELS[name])}")
        return
    if model is None:
        raise click.UsageError(f"missing MODEL; available: {', '.join(names)}")
    if is_onnx(model):
        net = load_onnx(
            model, **{"--variant": variant, "--input-size": input_size, "--option": options}
        )
        data = S.summarize(net, model, dense_twin=dense_twin)
    else:
        data = _zoo(model, names, variant, input_size, options, dense_twin)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(S.format_table(data, notation=notation))


def _zoo(model, names, variant, input_size, options, dense_twin):
    """The summary data of the zoo model MODEL (one-line usage errors)."""
    from ..models import summary as S

    key = model.lower().replace("-", "").replace("_", "")
    if key not in {n.replace("-", "").replace("_", "") for n in names}:
        raise click.BadParameter(
            f"unknown model {model!r}; available: {', '.join(names)}", param_hint="MODEL"
        )
    opts = dict(_parse_option(o) for o in options)
    try:
        data = S.describe(
            model, variant=variant, input_size=input_size, dense_twin=dense_twin, **opts
        )
    except TypeError as e:
        # an option the builder does not take (e.g. --variant for resnet18)
        raise click.UsageError(f"{model}: {e}".replace("\n", " ")) from None
    except ValueError as e:
        raise click.UsageError(str(e).replace("\n", " ")) from None
    return data
