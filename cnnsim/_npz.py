"""Reading ``.npz`` files someone else wrote (a student's trace, a downloaded checkpoint).

    arrays = read_npz(path, max_bytes=2**30, what="trace file", error=TraceError)

``np.load`` inflates an array before anything can look at it: a 2 MB file can hold one
deflated 2 GB array of zeros. Here every member's ``.npy`` header (shape, dtype, order) is
read first, from the zip's own directory and the first bytes of the member, and checked:

* the member is a ``.npy`` array with a plain dtype (no objects, no pickles);
* its declared size (shape x item size, in Python integers: no overflow) agrees with the
  size the zip directory records for it (an array "smaller than claimed" is refused);
* the declared sizes of all members together stay within ``max_bytes``, or the file is
  refused *before* anything is inflated, with the figure and how to raise the limit.

Only then are the arrays read (the zip module checks each member's CRC on the way).
"""

import math
import zipfile

import numpy as np

DEFAULT_MAX_LOAD_BYTES = 2**30  # 1 GiB: an AlexNet trace with arrays is ~450 MB
_KINDS = "fiubU"  # float, int, unsigned, bool, unicode text


def human_bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def read_npz(
    path, max_bytes=DEFAULT_MAX_LOAD_BYTES, what="file", error=ValueError, option="--max-load-bytes"
):
    """``{name: array}`` of the ``.npz`` at ``path``, checked before inflating (see the
    module doc). Raises ``error`` (one line) for anything else."""
    path = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise error(
            f"{what} {path!r}: not a readable cnnsim {what} (not an .npz archive: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    with zf:
        headers, total = {}, 0
        for info in zf.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                raise error(f"{what} {path!r}: unexpected member {name[:60]!r} (not a .npy array)")
            try:
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version in ((2, 0), (3, 0)):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise ValueError(f"unknown .npy version {version}")
                    header_len = f.tell()
            except (
                ValueError,
                OSError,
                EOFError,
                zipfile.BadZipFile,
                SyntaxError,
                NotImplementedError,
                RuntimeError,
            ) as e:
                raise error(
                    f"{what} {path!r}: member {name[:60]!r} is not a readable array "
                    f"({type(e).__name__})"
                ) from None
            if dtype.hasobject or dtype.kind not in _KINDS or dtype.fields is not None:
                raise error(
                    f"{what} {path!r}: array {name[:-4][:60]!r} has dtype {dtype}; "
                    f"only plain numbers, booleans and text are read"
                )
            declared = math.prod(int(s) for s in shape) * dtype.itemsize
            if header_len + declared != info.file_size:
                raise error(
                    f"{what} {path!r}: array {name[:-4][:60]!r} claims shape "
                    f"{tuple(shape)} {dtype} ({human_bytes(declared)}) but holds "
                    f"{human_bytes(max(info.file_size - header_len, 0))}: damaged or "
                    f"tampered"
                )
            total += declared
            if total > max_bytes:
                raise error(
                    f"{what} {path!r}: its arrays would take {human_bytes(total)} or "
                    f"more in memory, over the limit of {human_bytes(max_bytes)}; if "
                    f"you trust the file, raise it with {option} BYTES"
                )
            headers[name[:-4]] = info
        out = {}
        for key, info in headers.items():
            try:
                with zf.open(info) as f:
                    out[key] = np.lib.format.read_array(f, allow_pickle=False)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                raise error(
                    f"{what} {path!r}: array {key[:60]!r} is damaged ({type(e).__name__})"
                ) from None
    return out
