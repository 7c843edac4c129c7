"""``cnnsim step --interactive``: drive a ``Stepper`` from typed (or piped) commands.

The commands are one table, ``COMMANDS``: each row has the words that call it, how the
help writes it, one line of help and the ``Session`` method that does it. The dispatch
and the help text (``help_text()``) are both read from the table, so a command cannot be
added without its help. The session stays open after the last layer until ``q`` (or the
end of the input), so every layer and neuron can still be inspected; ``b`` moves a cursor
back over the steps already run, and Enter moves it forward again, running a new layer
only at the frontier.
"""

import sys
from dataclasses import dataclass
from typing import Callable

import click

from .options import parse_neuron


class Session:
    """One interactive session over ``stepper``. ``show_step(step)``, ``show_neuron(layer,
    map, row, col)`` and ``show_end()`` (the prediction) print; ``echo(text)`` says the
    rest. ``cursor``: index of the next step Enter shows."""

    def __init__(self, stepper, echo, show_step, show_neuron, show_end=None):
        self.stepper, self.echo = stepper, echo
        self.show_step, self.show_neuron, self.show_end = show_step, show_neuron, show_end
        self.cursor = stepper.position
        self.names = stepper.names()

    @property
    def steps(self):
        return self.stepper.trace.steps

    def reached(self, name):
        """Index of the step of layer ``name``, which must have run (else a ValueError that
        says how far the session is and how to get there)."""
        idx = self.stepper.index_of(name)
        if idx >= self.stepper.position:
            raise ValueError(
                f"layer {name!r} not reached yet (it is step {idx}; "
                f"{self.stepper.position} of {len(self.names)} steps have run): "
                f"'r {name}' runs on to it"
            )
        return idx

    # ---- the commands (``arg``: the text after the command word, "" if none) -----------
    def forward(self, arg=""):
        if self.cursor < self.stepper.position:
            self.show_step(self.steps[self.cursor])
        elif self.stepper.done:
            self.echo("the forward pass is complete: b, l, s NAME, n ..., p, or q to leave")
            return
        else:
            self.show_step(self.stepper.next())
            if self.stepper.done and self.show_end is not None:
                self.show_end()
        self.cursor += 1

    def run_to(self, name):
        stop = self.stepper.index_of(name)
        if stop < self.stepper.position:
            raise ValueError(f"layer {name!r} has already run (s {name} shows it)")
        self.cursor = self.stepper.position
        while self.stepper.position <= stop:
            self.forward()

    def back(self, arg=""):
        if self.cursor > 1:
            self.cursor -= 1
            self.show_step(self.steps[self.cursor - 1])
            return
        self.echo("already at the first layer")
        self.cursor = min(self.cursor, 1)
        if self.stepper.position:
            self.show_step(self.steps[0])

    def list_steps(self, arg=""):
        done = self.stepper.position
        if not done:
            self.echo("no layer has run yet (Enter runs the first)")
        for s in self.steps[:done]:
            self.show_step(s)
        rest = len(self.names) - done
        if rest:
            more = ", ".join(self.names[done:][:6]) + (", ..." if rest > 6 else "")
            self.echo(f"({rest} more to run: {more})")

    def show(self, name):
        self.show_step(self.steps[self.reached(name)])

    def neuron(self, spec):
        spec = parse_neuron(spec)
        self.reached(spec[0])
        self.show_neuron(*spec)

    def prediction(self, arg=""):
        if not self.stepper.done:
            raise ValueError(f"the last layer has not run yet ('r {self.names[-1]}' runs on to it)")
        if self.show_end is not None:
            self.show_end()

    def help(self, arg=""):
        self.echo(help_text())

    def quit(self, arg=""):
        return True

    # ---- dispatch ---------------------------------------------------------------------
    def do(self, line):
        """Carry out one command line; True when the session should end. Errors are told
        (``error: ...``) and the session goes on."""
        command, arg = lookup(line)
        if command is None:
            self.echo(f"unknown command {line!r}; ? lists the commands")
            return False
        try:
            return bool(command.run(self, arg))
        except (KeyError, ValueError, click.BadParameter) as e:
            msg = e.message if isinstance(e, click.BadParameter) else (e.args[0] if e.args else e)
            self.echo(f"error: {msg}")
        except Exception as e:  # noqa: BLE001 - keep the session alive
            self.echo(f"error: {type(e).__name__}: {e}")
        return False


@dataclass(frozen=True)
class Command:
    words: tuple  # what the user types ("" is Enter); the help shows ``usage``
    usage: str
    help: str
    run: Callable  # Session method: run(session, arg); True ends the session
    takes_arg: bool = False  # a NAME or LAYER:MAP:ROW:COL follows the word


COMMANDS = (
    Command(
        ("", "next"),
        "Enter or next",
        "run the next layer (after b: show the next one already run)",
        Session.forward,
    ),
    Command(("r",), "r NAME", "run on to layer NAME", Session.run_to, takes_arg=True),
    Command(("b", "back"), "b, back", "show the previous layer again", Session.back),
    Command(("l", "list"), "l, list", "the layers run so far", Session.list_steps),
    Command(
        ("s", "show"), "s NAME", "show a layer that has run (its row)", Session.show, takes_arg=True
    ),
    Command(
        ("n",),
        "n LAYER:MAP:ROW:COL",
        "a neuron's connections and receptive field (a layer that has run)",
        Session.neuron,
        takes_arg=True,
    ),
    Command(("p",), "p", "the prediction (once the last layer has run)", Session.prediction),
    Command(("?", "h", "help"), "?, help", "this help", Session.help),
    Command(("q", "quit", "exit"), "q, quit", "leave", Session.quit),
)
_BY_WORD = {w: c for c in COMMANDS for w in c.words}


def lookup(line):
    """(Command, its argument) for a stripped command line; (None, "") when the word is
    unknown, or when an argument is missing or given to a command that takes none."""
    word, _, arg = line.partition(" ")
    arg = arg.strip()
    command = _BY_WORD.get(word)
    if command is None or command.takes_arg != bool(arg):
        return None, ""
    return command, arg


def help_text():
    """The commands, one per line, from ``COMMANDS``."""
    return "commands:\n" + "\n".join(f"  {c.usage:<17}  {c.help}" for c in COMMANDS)


def interactive_loop(stepper, read, echo, show_step, show_neuron, show_end=None):
    """Drive ``stepper`` from command lines returned by ``read()`` (None = end of input)
    until ``q`` or the end of the input; returns the stepper."""
    echo("interactive: Enter = next layer, ? = help, q = quit")
    session = Session(stepper, echo, show_step, show_neuron, show_end)
    while True:
        line = read()
        if line is None or session.do(line.strip()):
            return stepper


def reader(echo):
    """Commands from a terminal (with a prompt) or from a pipe (echoed, so a transcript
    reads like a session); None at the end of the input."""
    if sys.stdin.isatty():

        def read():
            try:
                return input("> ")
            except EOFError:
                return None

        return read

    def read_pipe():
        line = sys.stdin.readline()
        if not line:
            return None
        echo(f"> {line.rstrip()}")
        return line

    return read_pipe
