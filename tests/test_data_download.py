"""`cnnsim data download`: files served from a local HTTP server on 127.0.0.1, no internet."""

import functools
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest
from click.testing import CliRunner

from cnnsim.cli.main import cli
from cnnsim.data import DownloadError, download, load_mnist
from cnnsim.data.download import CHECKSUMS
from cnnsim.data.idx import encode_idx


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """(base URL, served folder): a thread serving tmp_path/srv on an ephemeral port."""
    root = tmp_path / "srv"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    httpd.shutdown()
    httpd.server_close()
    t.join(5)


def fake_mnist(root, n=6):
    """Write the four standard file names (tiny contents); return {name: md5}."""
    rng = np.random.default_rng(3)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 2, dtype=np.uint8),
    }
    sums = {}
    for name, a in arrays.items():
        data = gzip.compress(encode_idx(a), mtime=0)
        (root / name).write_bytes(data)
        sums[name] = hashlib.md5(data).hexdigest()
    return sums, arrays


def test_good_files_are_downloaded_then_skipped(server, tmp_path):
    url, root = server
    sums, arrays = fake_mnist(root)
    data = tmp_path / "data"
    logs = []
    status = download("mnist", data_dir=data, mirror=url, files=sums, log=logs.append)
    assert status == {k: "downloaded" for k in sums}
    x, y = load_mnist("train", data_dir=data, verify=False)  # tiny stand-ins
    np.testing.assert_array_equal(x, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte.gz"])
    # nothing temporary left behind
    assert sorted(p.name for p in (data / "mnist").iterdir()) == sorted(sums)
    # second run: every file present and valid, nothing fetched (server may even be gone)
    status = download("mnist", data_dir=data, mirror="http://127.0.0.1:9/", files=sums)
    assert set(status.values()) == {"present"}


def test_sha256_checksums_accepted(server, tmp_path):
    url, root = server
    (root / "a.gz").write_bytes(b"payload")
    sums = {"a.gz": hashlib.sha256(b"payload").hexdigest()}
    assert download("mnist", data_dir=tmp_path / "d", mirror=url, files=sums) == {
        "a.gz": "downloaded"
    }


def test_corrupted_file_rejected_and_not_left_on_disk(server, tmp_path):
    url, root = server
    sums, _ = fake_mnist(root)
    bad = "train-images-idx3-ubyte.gz"
    (root / bad).write_bytes((root / bad).read_bytes()[:-5] + b"XXXXX")  # corrupt in transit
    data = tmp_path / "data"
    with pytest.raises(DownloadError) as e:
        download("mnist", data_dir=data, mirror=url, files=sums)
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{bad}: checksum mismatch" in msg and sums[bad] in msg
    assert list((data / "mnist").iterdir()) == []  # neither the file nor a .part


def test_invalid_present_file_is_replaced(server, tmp_path):
    url, root = server
    sums, _ = fake_mnist(root)
    dest = tmp_path / "data" / "mnist"
    dest.mkdir(parents=True)
    (dest / "t10k-labels-idx1-ubyte.gz").write_bytes(b"stale")
    status = download("mnist", data_dir=tmp_path / "data", mirror=url, files=sums)
    assert status["t10k-labels-idx1-ubyte.gz"] == "downloaded"
    assert (dest / "t10k-labels-idx1-ubyte.gz").read_bytes() == (
        root / "t10k-labels-idx1-ubyte.gz"
    ).read_bytes()


def test_http_404_and_unreachable_server(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match=r"missing.gz: .*HTTP 404"):
        download("mnist", data_dir=tmp_path, mirror=url, files={"missing.gz": "0" * 32})
    # port 9 (discard) on localhost: nothing listens, the connection is refused at once
    with pytest.raises(DownloadError, match=r"cannot reach any mirror, are you offline\?"):
        download(
            "mnist",
            data_dir=tmp_path,
            mirror="http://127.0.0.1:9",
            files={"a": "0" * 32},
            timeout=5,
        )


def test_bad_checksum_table():
    with pytest.raises(ValueError, match="neither an md5"):
        download("mnist", data_dir="/nonexistent", files={"a": "abc"})


def test_standard_checksums_match_shared_copies(mnist_dir):
    for name, md5 in CHECKSUMS["mnist"].items():
        assert hashlib.md5((mnist_dir / name).read_bytes()).hexdigest() == md5


def test_cli_download_and_offline_exit_code(server, tmp_path, monkeypatch):
    url, root = server
    sums, _ = fake_mnist(root)
    monkeypatch.setitem(CHECKSUMS, "mnist", sums)
    from cnnsim.data import verify  # `data info` lists verified files only: know these

    monkeypatch.setitem(
        verify.SHA256,
        "mnist",
        {n: hashlib.sha256((root / n).read_bytes()).hexdigest() for n in sums},
    )
    runner = CliRunner()
    r = runner.invoke(
        cli, ["data", "download", "mnist", "--data-dir", str(tmp_path / "d"), "--mirror", url]
    )
    assert r.exit_code == 0, r.output
    assert "4 files ready" in r.output and "4 downloaded" in r.output
    r = runner.invoke(cli, ["data", "info", "mnist", "--data-dir", str(tmp_path / "d")])
    assert r.exit_code == 0 and "mnist train: 6 images 28x28" in r.output
    assert "SHA-256 verified" in r.output
    r = runner.invoke(
        cli,
        [
            "data",
            "download",
            "mnist",
            "--data-dir",
            str(tmp_path / "e"),
            "--mirror",
            "http://127.0.0.1:9/",
            "--timeout",
            "5",
        ],
    )
    assert r.exit_code == 1
    assert "offline" in r.output and r.output.count("\n") == 1
    r = runner.invoke(cli, ["data", "download", "cifar"])
    assert r.exit_code == 2


def test_cli_real_subprocess_offline(tmp_path):
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnsim.cli.main",
            "data",
            "download",
            "mnist",
            "--data-dir",
            str(tmp_path),
            "--mirror",
            "http://127.0.0.1:9/",
            "--timeout",
            "5",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("Error: mnist: could not download train-images-idx3-ubyte.gz")
    assert r.stderr.count("\n") == 1
