"""Download MNIST / Fashion-MNIST with checksum verification (standard library only).

Each file is streamed into a temporary file next to its destination, hashed on the
way, and renamed into place only when its checksum matches: a cut or corrupted
download never leaves a file that looks valid. Files already present with the right
checksum are skipped. The checksums are those of the well-known original files
(MNIST: md5 as published with the dataset and confirmed on the copies in
``shared/data/mnist``; Fashion-MNIST: md5 from its README at zalandoresearch/fashion-mnist).
"""

import hashlib
import os
import pathlib
import socket
import time
import urllib.error
import urllib.request

from .._atomic import atomic_path
from ..functional._check import finite_number
from .datasets import canonical_name, dataset_dir
from .idx import DataError

#: file name -> md5 of the standard gzipped files
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

#: mirrors tried in order, https only (the checksum guards the content, https also who
#: served it); the plain-http ones (yann.lecun.com, the S3 website endpoint) were dropped
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": [
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ],
}

CHUNK = 1 << 16
#: the most one file may bring (the largest standard file, Fashion-MNIST's training
#: images, is 26 MB): a junk mirror is cut off here instead of filling the disk
MAX_FILE_BYTES = 64 * 2**20


class DownloadError(DataError):
    """A file could not be fetched (offline, HTTP error) or failed its checksum."""


def _check_file_name(fname):
    """A file name must be a plain name: it is joined to the data folder, and
    ``"../x"`` or ``"/etc/x"`` would write outside it."""
    bad = (
        not isinstance(fname, str)
        or fname in ("", ".", "..")
        or "\0" in fname
        or os.path.basename(fname) != fname
        or (os.altsep and os.altsep in fname)
        or fname.startswith(".")
    )
    if bad:
        raise ValueError(
            f"download: file names must be plain names inside the data folder, got {fname!r}"
        )


def _hasher(digest):
    # the length of the hex digest says which algorithm: 32 = md5, 64 = sha256
    if len(digest) == 32:
        return hashlib.md5()
    if len(digest) == 64:
        return hashlib.sha256()
    raise ValueError(f"checksum {digest!r} is neither an md5 (32 hex) nor a sha256 (64 hex)")


def file_digest(path, digest):
    """Hex digest of ``path`` with the algorithm that ``digest`` (md5/sha256) implies."""
    h = _hasher(digest)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def is_valid(path, digest):
    path = pathlib.Path(path)
    return path.is_file() and file_digest(path, digest) == digest.lower()


def _set_read_timeout(resp, seconds):
    # the socket under urllib's response; a private path, so failing quietly is fine (the
    # deadline is then checked between reads only)
    try:
        resp.fp.raw._sock.settimeout(max(seconds, 0.001))
    except AttributeError:
        pass


def _fetch(url, dest, digest, timeout, progress, max_bytes=None):
    """Stream ``url`` into a temp file beside ``dest``; rename when the checksum matches.

    ``timeout`` bounds the WHOLE transfer (a server trickling a byte a second cannot keep
    it going), ``max_bytes`` its size."""
    h = _hasher(digest)
    max_bytes = MAX_FILE_BYTES if max_bytes is None else max_bytes
    deadline = time.monotonic() + timeout
    with atomic_path(dest) as tmp:  # removed on any failure below, renamed on success
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            if total is not None and total > max_bytes:
                raise DownloadError(
                    f"{dest.name}: {url} announces {total} bytes, more than "
                    f"the {max_bytes} a dataset file may have (not fetched)"
                )
            done = 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"took longer than {timeout:g} s in total")
                _set_read_timeout(resp, left)
                chunk = resp.read1(CHUNK)
                if not chunk:
                    break
                done += len(chunk)
                if done > max_bytes:
                    raise DownloadError(
                        f"{dest.name}: {url} sent more than {max_bytes} bytes, "
                        f"more than a dataset file has (file discarded)"
                    )
                out.write(chunk)
                h.update(chunk)
                if progress:
                    progress(dest.name, done, total)
        got = h.hexdigest()
        if got != digest.lower():
            algo = "md5" if len(digest) == 32 else "sha256"
            raise DownloadError(
                f"{dest.name}: checksum mismatch from {url}: {algo} {got}, "
                f"expected {digest.lower()} (file discarded)"
            )
    return done


def _describe(err, url):
    """(message, is_connection_problem) for a failed fetch of ``url``."""
    if isinstance(err, urllib.error.HTTPError):
        return f"{url}: HTTP {err.code} {err.reason}", False
    if isinstance(err, urllib.error.URLError):
        return f"{url}: {err.reason}", True
    if isinstance(err, (socket.timeout, TimeoutError)):
        return f"{url}: timed out{f' ({err})' if str(err) else ''}", True
    return f"{url}: {err}", False


def download(name, data_dir=None, mirror=None, files=None, timeout=30.0, progress=None, log=None):
    """Fetch a dataset's files into ``<data root>/<name>/``; return {file: status}.

    ``mirror``: a base URL to use instead of the built-in mirrors (a file's URL is
    ``mirror + file name``). ``files``: {file name: md5 or sha256 hex} to fetch instead
    of the standard four (tests serve small fake files this way). ``status`` is
    ``"present"`` (already there with the right checksum) or ``"downloaded"``.
    ``progress(file, bytes_done, bytes_total_or_None)`` and ``log(message)`` are
    optional callbacks. Raises :class:`DownloadError` (one line) when a file cannot be
    fetched from any mirror or fails its checksum; nothing invalid is left on disk.
    """
    name = canonical_name(name)
    files = dict(CHECKSUMS[name] if files is None else files)
    for fname, digest in files.items():
        _hasher(digest)  # validate up front
        _check_file_name(fname)
    timeout = finite_number(timeout, "timeout", "download", positive=True)
    if mirror:
        mirrors = [mirror if mirror.endswith("/") else mirror + "/"]
    else:
        mirrors = MIRRORS[name]
    dest_dir = dataset_dir(name, data_dir)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create data folder {dest_dir}: {e.strerror or e}") from None
    status = {}
    for fname, digest in files.items():
        dest = dest_dir / fname
        if dest.exists():
            if is_valid(dest, digest):
                status[fname] = "present"
                if log:
                    log(f"{fname}: already present and valid in {dest_dir}")
                continue
            try:  # really discard it: a failed download must not leave it in place
                dest.unlink()
            except OSError as e:
                raise DownloadError(
                    f"{fname}: present but damaged, and it cannot be removed ({e.strerror or e})"
                ) from None
            if log:
                log(
                    f"{fname}: present but its checksum does not match; removed it, "
                    f"downloading again"
                )
        errors, offline = [], True
        for base in mirrors:
            url = base + fname
            try:
                size = _fetch(url, dest, digest, timeout, progress)
            except DownloadError as e:
                errors.append(str(e))
                offline = False
                continue
            except (urllib.error.URLError, OSError, ValueError) as e:
                msg, conn = _describe(e, url)
                errors.append(msg)
                offline = offline and conn
                continue
            status[fname] = "downloaded"
            if log:
                log(f"{fname}: downloaded {size} bytes from {base}, checksum ok")
            break
        else:
            why = "cannot reach any mirror, are you offline? " if offline else ""
            raise DownloadError(
                f"{name}: could not download {fname}: {why}(" + "; ".join(errors) + ")"
            )
    return status
