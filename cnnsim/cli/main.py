"""``cnnsim``: the command-line entry point.

Each sub-command lives in its own module of ``cnnsim.cli`` and is registered here.
Usage errors exit with code 2 (click's convention), other failures with 1; errors go
to stderr as one line.
"""

import importlib
import importlib.util
import os

import click

from .._text import one_line


class _FileError(click.ClickException):
    exit_code = 1


def _one_line_error(e):
    """The click error (and exit code) for an exception a command let through."""
    from .._lock import FolderBusy
    from ..data.idx import DataError
    from ..engine.trace import TraceError
    from ..train.checkpoint import CheckpointError

    if isinstance(e, (TraceError, CheckpointError, DataError, FolderBusy)):
        return _FileError(one_line(str(e)))
    if isinstance(e, OSError):
        what = f"{e.filename}: " if getattr(e, "filename", None) else ""
        return _FileError(one_line(f"{what}{e.strerror or e}"))
    if isinstance(e, MemoryError):
        return _FileError(
            "not enough memory for this run; choose smaller sizes (batch, width, depth, input size)"
        )
    if isinstance(e, (ValueError, TypeError, KeyError, OverflowError)):
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return click.UsageError(one_line(str(msg)))
    return _FileError(
        one_line(
            f"internal error ({type(e).__name__}: {e}); run again with "
            f"CNNSIM_DEBUG=1 for the traceback and please report it"
        )
    )


# (module, attribute) of every sub-command; modules are imported lazily so that
# ``cnnsim --help`` stays fast and one broken command cannot take the others down.
COMMANDS = {
    "step": ("cnnsim.cli.step_cmd", "step"),
    "summary": ("cnnsim.cli.summary_cmd", "summary"),
    "explain": ("cnnsim.cli.explain_cmd", "explain"),
    "train": ("cnnsim.cli.train_cmd", "train"),
    "gradflow": ("cnnsim.cli.gradflow_cmd", "gradflow"),
    "experiment": ("cnnsim.cli.experiment_cmd", "experiment"),
    "data": ("cnnsim.cli.data_cmd", "data"),
    "bench": ("cnnsim.cli.bench_cmd", "bench"),
    "view": ("cnnsim.cli.view_cmd", "view"),
    "sweep": ("cnnsim.cli.sweep_cmd", "sweep"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(name for name, (mod, _) in COMMANDS.items() if importlib.util.find_spec(mod))

    def invoke(self, ctx):
        """Run the sub-command; any failure it did not turn into a click error itself
        becomes ONE line on stderr here (the one place), never a traceback:
        ``ValueError``/``TypeError`` from the library's validation of what the user gave
        are usage errors (exit 2); damaged files (``TraceError``, ``CheckpointError``,
        ``DataError``), ``OSError`` (read-only folder, missing file), ``MemoryError`` and
        anything unexpected exit 1. ``CNNSIM_DEBUG=1`` re-raises with the traceback."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as e:
            if os.environ.get("CNNSIM_DEBUG"):
                raise
            raise _one_line_error(e) from None

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        mod, attr = COMMANDS[name]
        if importlib.util.find_spec(mod) is None:
            return None
        return getattr(importlib.import_module(mod), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cnnsim")
def cli():
    """cnnsim: watch a convolutional neural network work, neuron by neuron.

    \b
    Start here:
      cnnsim step lenet5                 trace LeNet-5's forward pass on a digit
      cnnsim summary alexnet             AlexNet as the lecture's table
      cnnsim explain conv --input 5x7 --kernel 3 --stride 2 --padding same
      cnnsim gradflow --depth 20 --activation sigmoid
      cnnsim train lenet5 --data mnist --epochs 2
      cnnsim experiment degradation
      cnnsim sweep gradflow --seed 0-4     many towers, on all cores or a Dask cluster

    Every command has --help with examples. Usage errors exit with code 2, other
    failures with 1; errors are one line on stderr.
    """


def main():
    cli()


if __name__ == "__main__":
    main()
