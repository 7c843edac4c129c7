"""``cnnsim``: the command-line entry point.

Each sub-command lives in its own module of ``cnnsim.cli`` and is registered here.
Usage errors exit with code 2 (click's convention), other failures with 1; errors go
to stderr as one line.
"""
import importlib
import importlib.util

import click

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
