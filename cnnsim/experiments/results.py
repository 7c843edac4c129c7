"""A sweep's results file, ``OUT/results.jsonl``: one JSON row per finished task.

Rows are appended by one writer (the process driving the sweep), each with a single
``write`` of a whole line to a file opened with ``O_APPEND``, then ``fsync``: a sweep
killed at any moment leaves complete rows, and at worst one partial last line, which
``load_rows`` drops (rewriting the file without it) so the next append starts clean.
Rewrites go through ``cnnsim._atomic.atomic_path`` (all or nothing).
"""

import csv
import json
import math
import os

from .._atomic import atomic_path


def load_rows(path):
    """``(rows, note)``: the complete rows of ``path`` ([] when it does not exist).

    A last line without its newline (the sweep was killed while writing it) is dropped
    and the file rewritten without it; ``note`` says so (else "").
    """
    if not os.path.exists(path):
        return [], ""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            raise ValueError(f"{path}: line {i} is not a JSON row; fix or remove it") from None
    note = ""
    if tail.strip():
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(b"\n".join(lines) + (b"\n" if lines else b""))
        note = f"{path}: dropped an unfinished last line (the sweep was stopped while writing it)"
    return rows, note


def append_row(path, row):
    """Append ``row`` as one line, with one ``write`` call, and flush it to disk."""
    line = (json.dumps(row, allow_nan=False, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        n = os.write(fd, line)
        if n != len(line):
            raise OSError(f"{path}: short write ({n} of {len(line)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)


def drop_failed(path, rows):
    """Rewrite ``path`` with only the rows that have no error (``--retry-failed``);
    returns the rows kept."""
    keep = [r for r in rows if r.get("error") is None]
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.writelines(json.dumps(r, allow_nan=False, separators=(",", ":")) + "\n" for r in keep)
    return keep


def write_csv(path, records):
    """``records`` (a list of flat dicts) as CSV, written atomically; floats with 6
    significant digits, infinities as ``inf``, missing numbers empty."""
    cols = []
    for r in records:
        cols += [k for k in r if k not in cols]

    def cell(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else ("inf" if math.isinf(v) else f"{v:.6g}")
        return "" if v is None else v

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in records:
            w.writerow({k: cell(r.get(k)) for k in cols})
