"""Measure the explorer's page sizes and opening times (docs/explorer.md's table).

    python tools/explorer_budgets.py            # LeNet-5, AlexNet, GoogLeNet, ResNet-18

Opening time: headless Chromium (Debian's), from file://, until the first layer is drawn.
"""

import os
import shutil
import sys
import tempfile
import time

import numpy as np

from cnnsim import models
from cnnsim.engine import record
from cnnsim.explorer import write_html


def open_seconds(path):
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page()
        best = None
        for _ in range(3):
            t = time.perf_counter()
            page.goto("file://" + os.path.abspath(path))
            page.wait_for_selector("#layer-title")
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        b.close()
    return best


def main(names):
    d = tempfile.mkdtemp()
    print(f"{'model':<12} {'steps':>5} {'exact':>5} {'MB':>6} {'write s':>8} {'open s':>7}")
    for name in names:
        net = models.build(name)
        x = np.random.default_rng(0).random((1,) + tuple(net.input_shape)).astype(np.float32)
        tr = record(net, x)
        path = os.path.join(d, name + ".html")
        t = time.perf_counter()
        size = write_html(tr, path)
        wt = time.perf_counter() - t
        import json
        import re

        page = open(path).read()
        data = json.loads(re.search(r"window.CNNSIM_TRACE = (.*?);</script>", page, re.S).group(1))
        ot = open_seconds(path)
        print(
            f"{name:<12} {len(tr):>5} {len(data['exact_layers']):>5} {size / 2**20:>6.2f} "
            f"{wt:>8.1f} {'-' if ot is None else f'{ot:.2f}':>7}",
            flush=True,
        )
    shutil.rmtree(d)


if __name__ == "__main__":
    main(sys.argv[1:] or ["lenet5", "alexnet", "googlenet", "resnet18"])
