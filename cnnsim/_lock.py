"""One writer per output folder: ``with FolderLock("runs/a", "cnnsim train"): ...``.

A second process asking for the same folder is refused at once with a one-line
``FolderBusy`` naming the holder's pid (two runs into one folder would overwrite each
other's checkpoint and metrics, the last writer winning). The lock is an OS advisory lock
(``flock``) on ``<folder>/.cnnsim.lock``: the kernel releases it when the process ends,
however it ends (``kill -9`` included), so a stale lock never blocks the next run.
"""

import os

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not serialized there
    fcntl = None

LOCK_NAME = ".cnnsim.lock"


class FolderBusy(RuntimeError):
    """Another process is writing into this folder."""


class FolderLock:
    def __init__(self, folder, what="cnnsim"):
        self.path = os.path.join(folder, LOCK_NAME)
        self.what = what
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(self.fd)
                self.fd = None
                raise FolderBusy(
                    f"{os.path.dirname(self.path) or '.'}: another {self.what} "
                    f"(pid {holder}) is writing into this folder; wait for it "
                    f"or choose another --out"
                ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # releases the flock; the file stays (harmless, tiny)
            self.fd = None
        return False
