"""Options shared by several commands.

``@target_option`` adds ``--target cpu|cuda`` to a click command: it selects where the
kernels run (``cnnsim.set_target``) before the command body runs, so the command itself
needs no parameter for it. Without the option the target comes from ``CNNSIM_TARGET``
(default "cpu"). Asking for cuda without a GPU fails with one line that says so and how to
use the simulator (``NUMBA_ENABLE_CUDASIM=1``), never a driver stack trace.
"""
import click

TARGET_HELP = ("where the kernels run: cpu (default, or $CNNSIM_TARGET) or cuda (numba.cuda "
               "twins on a GPU; NUMBA_ENABLE_CUDASIM=1 runs them on the slow simulator)")


def _select_target(ctx, param, value):
    if value is None:
        return None
    from .. import config
    try:
        config.set_target(value)
    except (RuntimeError, ValueError) as e:
        raise click.ClickException(str(e).splitlines()[0]) from None
    return value


def target_option(command):
    """Decorator: ``--target cpu|cuda`` on a click command (applied before it runs)."""
    return click.option("--target", type=click.Choice(["cpu", "cuda"]), default=None,
                        expose_value=False, callback=_select_target,
                        help=TARGET_HELP)(command)


class InitType(click.ParamType):
    """An initializer: ``normal:STD``, ``lecun``, ``glorot`` or ``he`` (one-line error else)."""
    name = "INIT"

    def convert(self, value, param, ctx):
        from ..layers.initializers import parse_init
        try:
            s = parse_init(value, f"--{param.name if param else 'init'}")
        except ValueError as e:
            self.fail(str(e).split(": ", 1)[-1], param, ctx)
        if s == "zeros":   # every unit the same: nothing to learn, nothing to show
            self.fail("zeros makes every unit identical; expected normal:STD, lecun, glorot "
                      "or he", param, ctx)
        return s


INIT = InitType()
INIT_HELP = ("weight initializer of the conv layers: normal:STD (e.g. normal:0.01), lecun, "
             "glorot or he [default: the one suited to the activation: he for relu, "
             "glorot for sigmoid/tanh]")


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
