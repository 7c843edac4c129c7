"""Write every measured number of docs/ from the commands that measure it (as
``make_cli_docs.py`` does for ``--help``): each block of a page marked

    <!-- measured: cnnsim gradflow --depth 20 --activation sigmoid -->
    ```text
    ...what the command prints (stdout), written by this script...
    ```

is replaced by ``$ <the command>`` and what it prints now (so a reader sees both); figures named by ``--out figures/...`` in a
command are rewritten in docs/figures. ``tests/test_docs.py`` runs the same commands and
fails when a page and its command disagree.

Marker options, before the colon (``<!-- measured slow tol=0.02: cnnsim ... -->``):

* ``slow``   the command takes more than a few seconds (training with the defaults): the
             test runs it only under ``pytest -m thorough``; this script always does.
* ``tol=X``  numbers may differ by X (absolute, for |value| <= 1; relative above). Used for
             training curves only: training is deterministic on one machine, but numpy's
             vectorized exp/log may differ in the last bit between CPU generations and a
             few hundred SGD steps can grow that. Text between numbers must match exactly.

The slow blocks (training runs) are measured with the AVX-512 kernels (``MEASURED_WITH``).
A CPU with AVX2 only runs other register tiles, so some layers take other paths whose
float32 sums round differently, and a training run drifts to other numbers (the same
from run to run on that machine): there the test skips those blocks, saying why, and
this script refuses to rewrite them.

    python demos/make_measured_docs.py                 # rewrite all pages (minutes)
    python demos/make_measured_docs.py --fast          # only the blocks not marked slow
    python demos/make_measured_docs.py --check         # exit 1 where a page is stale
    python demos/make_measured_docs.py --page lecture.md
"""

import argparse
import contextlib
import io
import os
import pathlib
import re
import shlex
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))

BLOCK = re.compile(
    r"(<!-- measured(?P<opts>[^:]*): (?P<cmd>.*?) -->\n```text\n)(?P<body>.*?)(```)", re.S
)
MEASURED_WITH = "AVX-512"  # the kernels the slow blocks' numbers come from (see above)
NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class Block:
    def __init__(self, page, m):
        self.page, self.command, self.body = page, m.group("cmd").strip(), m.group("body")
        opts = m.group("opts").split()
        self.slow = "slow" in opts
        self.tol = next((float(o[4:]) for o in opts if o.startswith("tol=")), 0.0)
        self.span = m.span("body")

    def __repr__(self):
        return f"{self.page.name}: {self.command}"


def kernels():
    """The kernels this CPU runs (``cnnsim.kernels.conv.simd.KERNELS``)."""
    from cnnsim.kernels.conv.simd import KERNELS

    return KERNELS


def blocks(page):
    return [Block(page, m) for m in BLOCK.finditer(page.read_text())]


def pages():
    return [p for p in sorted(DOCS.glob("*.md")) if blocks(p)]


def run(command, cwd):
    """What ``command`` (``cnnsim ...`` or ``python demos/X.py ...``) prints on stdout, run
    in folder ``cwd`` (offline: $CNNSIM_DATA points nowhere)."""
    args = shlex.split(command)
    old, old_data = os.getcwd(), os.environ.get("CNNSIM_DATA")
    os.chdir(cwd)
    os.environ["CNNSIM_DATA"] = str(pathlib.Path(cwd) / "no-data")
    try:
        if args[0] == "cnnsim":
            from click.testing import CliRunner

            from cnnsim.cli.main import cli

            r = CliRunner().invoke(cli, args[1:], catch_exceptions=False)
            if r.exit_code != 0:
                raise RuntimeError(f"{command!r} exited {r.exit_code}: {r.output[-500:]}")
            return r.stdout
        if args[0] == "python" and args[1].startswith("demos/"):
            import importlib.util

            spec = importlib.util.spec_from_file_location(
                "measured_" + pathlib.Path(args[1]).stem, ROOT / args[1]
            )
            mod = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(ROOT / "demos"))
            spec.loader.exec_module(mod)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                assert mod.main(args[2:]) == 0, command
            return out.getvalue()
        raise ValueError(f"measured blocks run only cnnsim and demos commands, got {command!r}")
    finally:
        os.chdir(old)
        if old_data is None:
            os.environ.pop("CNNSIM_DATA", None)
        else:
            os.environ["CNNSIM_DATA"] = old_data


def shown(command, printed):
    """The block's text: the command as typed, then what it printed."""
    return f"$ {command}\n{printed.rstrip()}\n"


def _num(tok):
    return float(tok.replace(",", ""))


def disagreement(expected, actual, tol=0.0):
    """None when ``actual`` matches ``expected`` (numbers within ``tol``); else a one-line
    description of the first difference."""
    e_lines, a_lines = expected.rstrip().splitlines(), actual.rstrip().splitlines()
    if len(e_lines) != len(a_lines):
        return f"{len(e_lines)} lines in the doc, {len(a_lines)} printed"
    for k, (e, a) in enumerate(zip(e_lines, a_lines), start=1):
        e, a = e.rstrip(), a.rstrip()
        if e == a:
            continue
        if tol and NUMBER.sub("#", e) == NUMBER.sub("#", a):
            bad = [
                (x, y)
                for x, y in zip(NUMBER.findall(e), NUMBER.findall(a))
                if abs(_num(x) - _num(y)) > tol * max(1.0, abs(_num(x)))
            ]
            if not bad:
                continue
        return f"line {k}: doc {e.strip()!r}, printed {a.strip()!r}"
    return None


_DONE = {}  # command -> printed, so a command shown on two pages runs once per call


def regenerate(page, fast=False, cwd=None):
    """Rewrite the measured blocks of ``page``; returns the number rewritten."""
    text = page.read_text()
    out, last, n = [], 0, 0
    for b in blocks(page):
        if fast and b.slow:
            continue
        if b.slow and kernels() != MEASURED_WITH:
            sys.exit(
                f"{b!r}: the slow blocks are measured with the {MEASURED_WITH} kernels and "
                f"this CPU runs the {kernels()} ones; run with --fast, or on an "
                f"{MEASURED_WITH} machine"
            )
        print(f"running {b!r}", file=sys.stderr, flush=True)
        if b.command not in _DONE:
            _DONE[b.command] = run(b.command, cwd or DOCS)
        printed = shown(b.command, _DONE[b.command])
        out += [text[last : b.span[0]], printed]
        last = b.span[1]
        n += 1
    page.write_text("".join(out) + text[last:])
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 where a page disagrees")
    ap.add_argument("--fast", action="store_true", help="skip the blocks marked slow")
    ap.add_argument("--page", action="append", help="only this page (e.g. lecture.md)")
    args = ap.parse_args(argv)
    todo = [DOCS / p for p in args.page] if args.page else pages()
    stale = 0
    for page in todo:
        if args.check:
            import tempfile

            for b in blocks(page):
                if args.fast and b.slow:
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    (pathlib.Path(tmp) / "figures").mkdir()
                    why = disagreement(b.body, shown(b.command, run(b.command, tmp)), b.tol)
                if why:
                    stale += 1
                    print(f"{b!r}: {why}", file=sys.stderr)
        else:
            print(f"{page}: {regenerate(page, args.fast)} blocks written")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
