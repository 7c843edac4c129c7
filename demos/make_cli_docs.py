"""Write docs/cli.md from click itself: every command, sub-command and option, exactly as
``--help`` prints them (tests/test_docs.py fails when docs/cli.md is out of date).

    python demos/make_cli_docs.py            # rewrite docs/cli.md
    python demos/make_cli_docs.py --check    # exit 1 if docs/cli.md is stale
"""

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import click  # noqa: E402

WIDTH = 88  # fixed, so the page does not depend on the terminal it was made in

INTRO = """# CLI reference

Generated from the `click` definitions by `python demos/make_cli_docs.py`; do not edit by
hand (`tests/test_docs.py` fails when this page and `--help` disagree). Every command also
answers `-h` / `--help`. Usage errors (a bad option, an unknown model or layer) exit with
code 2 and one line on stderr; other failures exit with 1.

Commands: {toc}
"""


def _help(cmd, path, parent):
    settings = dict(cmd.context_settings, terminal_width=WIDTH, max_content_width=WIDTH)
    ctx = click.Context(cmd, info_name=path[-1], parent=parent, **settings)
    return ctx, cmd.get_help(ctx)


def _walk(cmd, path, parent, out):
    ctx, text = _help(cmd, path, parent)
    out.append((" ".join(path), text))
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not getattr(sub, "hidden", False):
                _walk(sub, path + [name], ctx, out)


def render():
    from cnnsim.cli.main import cli

    pages = []
    _walk(cli, ["cnnsim"], None, pages)
    toc = ", ".join(f"[`{p}`](#{p.replace(' ', '-')})" for p, _ in pages[1:])
    parts = [INTRO.format(toc=toc)]
    for path, text in pages:
        parts.append(
            f'<a id="{path.replace(" ", "-")}"></a>\n## `{path}`\n\n```text\n{text.rstrip()}\n```\n'
        )
    return "\n".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is stale")
    ap.add_argument("--out", default=str(ROOT / "docs" / "cli.md"))
    args = ap.parse_args(argv)
    text = render()
    path = pathlib.Path(args.out)
    if args.check:
        if not path.exists() or path.read_text() != text:
            print(f"{path} is out of date: run python demos/make_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
