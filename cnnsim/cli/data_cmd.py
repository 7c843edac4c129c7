"""``cnnsim data``: download MNIST / Fashion-MNIST and see where the data lives."""

import sys

import click

from .options import POSITIVE

DATASET_CHOICE = click.Choice(["mnist", "fashion-mnist"], case_sensitive=False)


@click.group("data")
def data():
    """Datasets: download MNIST / Fashion-MNIST, show what is installed.

    \b
    The data folder is --data-dir, else $CNNSIM_DATA, else ~/.cache/cnnsim
    ($XDG_CACHE_HOME/cnnsim). Without any download, `--data synthetic` digits
    (rendered from fonts, not MNIST) work offline.
    """


@data.command("download")
@click.argument("name", type=DATASET_CHOICE)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder to download into (default: $CNNSIM_DATA or ~/.cache/cnnsim).",
)
@click.option(
    "--mirror",
    default=None,
    metavar="URL",
    help="Base URL to fetch the four files from instead of the built-in mirrors.",
)
@click.option(
    "--timeout",
    type=POSITIVE,
    default=30.0,
    show_default=True,
    help="Seconds one file may take in total (connecting and transferring).",
)
def download_cmd(name, data_dir, mirror, timeout):
    """Download NAME's four standard files and verify their checksums.

    Files already present with the right checksum are skipped; a file that fails its
    checksum is discarded, never left half-written.
    """
    from ..data.datasets import dataset_dir
    from ..data.download import DownloadError, download

    name = name.lower()
    progress = _Progress() if sys.stderr.isatty() else None
    try:
        status = download(
            name,
            data_dir=data_dir,
            mirror=mirror,
            timeout=timeout,
            progress=progress,
            log=lambda m: (progress and progress.end(), click.echo(m)),
        )
    except DownloadError as e:
        if progress:
            progress.end()
        raise click.ClickException(str(e)) from None
    fetched = sum(s == "downloaded" for s in status.values())
    click.echo(
        f"{name}: {len(status)} files ready in {dataset_dir(name, data_dir)} "
        f"({fetched} downloaded, {len(status) - fetched} already present)"
    )


@data.command("info")
@click.argument("name", type=DATASET_CHOICE, required=False)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Data folder to inspect (default: $CNNSIM_DATA or ~/.cache/cnnsim).",
)
def info_cmd(name, data_dir):
    """Show the data folder and, per dataset and split, whether its files are the published
    ones (SHA-256 verified) and load (and their size). Unverified files are not listed
    as available."""
    from ..data.datasets import DATASETS, data_root, load_dataset
    from ..data.idx import DataError

    click.echo(f"data folder: {data_root(data_dir)}")
    failed = False
    for ds in [name.lower()] if name else DATASETS:
        for split in ("train", "test"):
            try:
                images, labels = load_dataset(ds, split, data_dir)
            except DataError as e:
                failed = True
                click.echo(f"{ds} {split}: not available: {e}")
                continue
            click.echo(
                f"{ds} {split}: {len(images)} images {images.shape[1]}x{images.shape[2]},"
                f" labels 0..{labels.max()} (SHA-256 verified)"
            )
    click.echo("synthetic: always available (digits rendered from matplotlib's fonts, not MNIST)")
    if failed and name:
        sys.exit(1)


class _Progress:
    """A one-line byte counter on a terminal's stderr."""

    def __init__(self):
        self.active = False

    def __call__(self, fname, done, total):
        pct = f" {100 * done / total:5.1f}%" if total else ""
        click.echo(f"\r{fname}: {done / 1e6:7.2f} MB{pct}", nl=False, err=True)
        self.active = True

    def end(self):
        if self.active:
            click.echo("", err=True)
            self.active = False
