"""Options shared by several commands.

``@target_option`` adds ``--target cpu|cuda`` to a click command: it selects where the
kernels run (``cnnsim.set_target``) before the command body runs, so the command itself
needs no parameter for it. Without the option the target comes from ``CNNSIM_TARGET``
(default "cpu"). Asking for cuda without a GPU fails with one line that says so and how to
use the simulator (``NUMBA_ENABLE_CUDASIM=1``), never a driver stack trace.
"""

import click

TARGET_HELP = (
    "where the kernels run: cpu (default, or $CNNSIM_TARGET) or cuda (numba.cuda "
    "twins on a GPU; NUMBA_ENABLE_CUDASIM=1 runs them on the slow simulator)"
)


def _select_target(ctx, param, value):
    if value is None:
        return None
    from .. import config

    try:
        config.set_target(value)
    except (RuntimeError, ValueError) as e:
        raise click.ClickException(str(e).splitlines()[0]) from None
    return value


def stack_options(opts):
    """Decorator applying the click options ``opts`` so that ``--help`` lists them in
    this order (click applies decorators bottom-up, hence the reversal)."""

    def decorate(command):
        for opt in reversed(opts):
            command = opt(command)
        return command

    return decorate


def target_option(command):
    """Decorator: ``--target cpu|cuda`` on a click command (applied before it runs)."""
    return click.option(
        "--target",
        type=click.Choice(["cpu", "cuda"]),
        default=None,
        expose_value=False,
        callback=_select_target,
        help=TARGET_HELP,
    )(command)


class InitType(click.ParamType):
    """An initializer: ``normal:STD``, ``lecun``, ``glorot`` or ``he`` (one-line error else)."""

    name = "INIT"

    def convert(self, value, param, ctx):
        from ..layers.initializers import parse_init

        try:
            s = parse_init(value, f"--{param.name if param else 'init'}")
        except ValueError as e:
            self.fail(str(e).split(": ", 1)[-1], param, ctx)
        if s == "zeros":  # every unit the same: nothing to learn, nothing to show
            self.fail(
                "zeros makes every unit identical; expected normal:STD, lecun, glorot or he",
                param,
                ctx,
            )
        return s


INIT = InitType()
INIT_HELP = (
    "weight initializer of the conv layers: normal:STD (e.g. normal:0.01), lecun, "
    "glorot or he [default: the one suited to the activation: he for relu, "
    "glorot for sigmoid/tanh]"
)


# ---- output paths, checked before any long work starts ---------------------------------
def _writable_dir(d, option):
    """``d`` exists (or can be created: its nearest existing ancestor is a writable
    folder) and is a writable folder; else a one-line BadParameter naming ``option``."""
    import os
    import pathlib

    d = pathlib.Path(d).resolve()
    probe = d
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise click.BadParameter(f"{str(probe)!r} is a file, not a folder", param_hint=option)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise click.BadParameter(f"folder {str(probe)!r} is not writable", param_hint=option)
    return d


def check_output_dir(path, option):
    """Validate an output folder option before the work (a read-only folder, a file in
    the way); returns the path unchanged."""
    _writable_dir(path, option)
    return path


def check_output_file(path, option, exts=None):
    """Validate an output file option before the work: its folder exists and is writable,
    the path is not a folder, and it ends in one of ``exts`` (e.g. ``(".png", ".svg")``)."""
    import os
    import pathlib

    p = pathlib.Path(path)
    if exts and p.suffix.lower() not in exts:
        raise click.BadParameter(
            f"file must end in {' or '.join(exts)}, got {str(path)!r}", param_hint=option
        )
    if p.is_dir():
        raise click.BadParameter(f"{str(path)!r} is a folder; give a file name", param_hint=option)
    parent = p.resolve().parent
    if not parent.is_dir():
        raise click.BadParameter(f"folder {str(parent)!r} does not exist", param_hint=option)
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise click.BadParameter(
            f"cannot write {str(path)!r} (permission denied)", param_hint=option
        )
    return path


MAX_LOAD_HELP = (
    "refuse files whose arrays would take more memory than this many bytes "
    "(checked before reading them)"
)


class FiniteFloat(click.ParamType):
    """A finite number within bounds (click's FloatRange lets ``nan`` and ``inf`` through):
    ``FiniteFloat(0, open_min=True)`` is ``> 0``, ``FiniteFloat(0, 1, open_max=True)`` is
    ``[0, 1)``."""

    name = "number"

    def __init__(self, min=None, max=None, open_min=False, open_max=False):
        self.min, self.max, self.open_min, self.open_max = min, max, open_min, open_max

    def convert(self, value, param, ctx):
        import math

        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(v):
            self.fail(f"must be a finite number, got {value!r}", param, ctx)
        lo_bad = self.min is not None and (v < self.min or (self.open_min and v == self.min))
        hi_bad = self.max is not None and (v > self.max or (self.open_max and v == self.max))
        if lo_bad or hi_bad:
            lo = "" if self.min is None else f"{'(' if self.open_min else '['}{self.min}"
            hi = "" if self.max is None else f"{self.max}{')' if self.open_max else ']'}"
            rng = (
                f"in {lo}, {hi}"
                if lo and hi
                else f"{'>' if self.open_min else '>='} {self.min}"
                if lo
                else f"{'<' if self.open_max else '<='} {self.max}"
            )
            self.fail(f"must be {rng}, got {value!r}", param, ctx)
        return v


POSITIVE = FiniteFloat(0, open_min=True)
NON_NEGATIVE = FiniteFloat(0)
SEED = click.IntRange(0)
FIGURE_EXTS = (".png", ".svg", ".pdf")


def is_onnx(model):
    """True when the MODEL argument is an ONNX file rather than a zoo name."""
    return isinstance(model, str) and model.lower().endswith(".onnx")


def load_onnx(path, **unused):
    """``cnnsim.interop.from_onnx(path)``, every failure as a one-line usage error (exit 2).
    ``unused``: options that make no sense for a file (``--variant``), refused by name."""
    given = [k for k, v in unused.items() if v]
    if given:
        raise click.UsageError(f"{path} is an ONNX file: it takes no {', '.join(given)}")
    from ..interop import from_onnx

    try:
        return from_onnx(path)
    except (ValueError, OSError, RuntimeError) as e:
        raise click.BadParameter(str(e).splitlines()[0], param_hint="MODEL") from None


def parse_neuron(value, option="--neuron"):
    """``LAYER:MAP:ROW:COL`` -> (layer, map, row, col); a one-line usage error if malformed
    (the layer name may itself hold ':', so the last three fields are split off)."""
    parts = value.rsplit(":", 3)
    if len(parts) != 4:
        raise click.BadParameter(f"expected LAYER:MAP:ROW:COL, got {value!r}", param_hint=option)
    try:
        m, r, c = (int(p) for p in parts[1:])
    except ValueError:
        raise click.BadParameter(
            f"MAP, ROW and COL must be integers, got {value!r}", param_hint=option
        ) from None
    return parts[0], m, r, c


class InputError(click.ClickException):
    """What an option points at cannot be used (an unreadable image, a damaged trace or
    checkpoint): ``Error: OPTION: what is wrong`` on one line, exit code 2 like a usage
    error, without click's usage block (the command line itself was fine)."""

    exit_code = 2

    def __init__(self, message, option):
        super().__init__(f"{option}: {message}")
