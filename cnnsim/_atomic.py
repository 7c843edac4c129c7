"""Write files all-or-nothing: to a temporary file beside the target, then rename.

    with atomic_path("trace.npz") as tmp:
        np.savez(tmp, ...)          # on any error tmp is removed and trace.npz untouched

The file gets the permissions a plain ``open(path, "w")`` would give (mkstemp makes 0600).
"""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path, prefix=".cnnsim-"):
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    ext = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=ext + ".part" if ext else ".part", dir=d)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
