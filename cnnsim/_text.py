"""Text that came from outside (files, options) made safe to print and to name files by.

    printable("C1\\x1b[2J")   -> 'C1\\\\x1b[2J'   (escape codes shown, never obeyed)
    safe_filename("../a b")   -> '.._a_b'
    one_line(msg)             -> the message on one line, control characters escaped

A name read from a trace or a checkpoint is data: a terminal must not act on its escape
codes, and a file named after it must stay inside its folder and be creatable.
"""

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_FILE = re.compile(r"[^A-Za-z0-9._+-]")
MAX_NAME = 100  # characters of a file name made from a layer name


def printable(s, limit=200):
    """``s`` with every control character shown as an escape (``\\x1b``), cut to
    ``limit`` characters (with "...")."""
    s = str(s)
    s = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), s)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def one_line(msg, limit=500):
    """An error message on one line (newlines become "; "), control characters escaped."""
    msg = "; ".join(p.strip() for p in str(msg).splitlines() if p.strip())
    return printable(msg, limit)


def safe_filename(name, limit=MAX_NAME):
    """A file-name part made from ``name``: letters, digits, ``. _ + -`` only (others ->
    ``_``), no leading dot, at most ``limit`` characters; never empty."""
    s = _UNSAFE_FILE.sub("_", str(name)).lstrip(".") or "_"
    return s[:limit]
