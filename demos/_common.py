"""Shared by the demos: ``--quick`` / ``--out DIR`` parsing and figure saving.

Every demo is a script (``python demos/NAME.py --quick --out figs``) and a module with
``main(argv) -> 0``; tests/test_demos.py runs each in quick mode.
"""

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def parse(doc, argv=None, extra=None):
    """``--quick`` (small sizes, seconds) and ``--out DIR`` (default: demo_out/<name>)."""
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: runs in seconds")
    ap.add_argument("--out", default=None, help="folder for the figures")
    if extra:
        extra(ap)
    args = ap.parse_args(argv)
    return args


def out_dir(args, name):
    d = pathlib.Path(args.out) if args.out else pathlib.Path("demo_out") / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def save(fig, folder, name, dpi=None):
    path = pathlib.Path(folder) / name
    fig.savefig(path, dpi=dpi)
    print(f"wrote {path}")
    return path
