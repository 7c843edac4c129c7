"""Write files all-or-nothing: to a temporary file beside the target, then rename.

    with atomic_path("trace.npz") as tmp:
        np.savez(tmp, ...)          # on any error tmp is removed and trace.npz untouched
    save_figure(fig, "curves.png")  # a matplotlib figure, the same way

The file gets the permissions a plain ``open(path, "w")`` would give (mkstemp makes 0600).

No debris: the temporary file is ``.cnnsim-<pid>-XXXX<ext>.part``. It is removed on any
exception, on SIGTERM/SIGHUP (a handler removes the live ones, then lets the signal end
the process as it would have), and, for what no handler can catch (``kill -9``, power
loss), the next write into the same folder removes the ``.part`` files whose process is
gone (:func:`clean_stale_parts`).
"""

import contextlib
import os
import re
import signal
import tempfile
import threading
import time

PREFIX = ".cnnsim-"
_PART = re.compile(r"^\.cnnsim-(?:(\d+)-)?.*\.part$")
_live = set()  # temporary files being written by this process
_cleaned = set()  # folders already swept in this process
_handlers_installed = False
STALE_SECONDS = 3600  # a .part without a pid (older cnnsim) is stale after this


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_stale_parts(folder):
    """Remove ``.cnnsim-*.part`` files in ``folder`` left by a process that no longer
    runs (or, without a pid in the name, older than an hour). Returns the names removed."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _PART.match(name)
        if not m:
            continue
        full = os.path.join(folder, name)
        try:
            stale = (
                not _pid_alive(int(m.group(1)))
                if m.group(1)
                else time.time() - os.path.getmtime(full) > STALE_SECONDS
            )
            if stale and full not in _live:
                os.remove(full)
                removed.append(name)
        except OSError:
            pass
    return removed


def _on_signal(signum, frame):
    for tmp in list(_live):
        with contextlib.suppress(OSError):
            os.remove(tmp)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, _on_signal)
    _handlers_installed = True


@contextlib.contextmanager
def atomic_path(path, prefix=PREFIX):
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    if d not in _cleaned:
        clean_stale_parts(d)
        _cleaned.add(d)
    _install_handlers()
    ext = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(
        prefix=f"{prefix}{os.getpid()}-", suffix=ext + ".part" if ext else ".part", dir=d
    )
    os.close(fd)
    _live.add(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        _live.discard(tmp)
        if os.path.exists(tmp):
            os.remove(tmp)


def save_figure(fig, path, **kw):
    """``fig.savefig(path)`` atomically; the format comes from the extension (.png default)."""
    ext = os.path.splitext(os.fspath(path))[1].lower() or ".png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=ext[1:], **kw)
    return path


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return path
