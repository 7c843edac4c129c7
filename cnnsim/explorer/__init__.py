"""The offline HTML explorer: one self-contained page for any traced network.

    from cnnsim.explorer import write_html
    write_html(trace, "lenet5.html")            # open it from file:// in any browser
    trace.explorer()                            # the same page inline in Jupyter

The page draws the network as its graph (branches side by side, skip connections as
dashed curves, blocks collapsible), a layer's feature maps on one colour scale, and for a
clicked neuron its inputs, weights, products, sum, bias and activation (computed in the
page, in float64, by the engine's formulas, and checked against the recorded value), its
window in the maps it reads and its receptive field on the input image. Everything (data,
script, style) is inline: no server, no CDN, no network request. Data: ``payload.py``.
"""

import html
import json
import os
from importlib import resources

from .._atomic import atomic_path
from ..engine.trace import TraceError
from .payload import DEFAULT_BUDGET, build_payload

__all__ = ["render_html", "write_html", "save_page", "Explorer", "DEFAULT_BUDGET"]


def _asset(name):
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _script_json(data):
    # JSON inside <script>: "</" must not close the element early
    return json.dumps(data, separators=(",", ":"), allow_nan=True).replace("</", "<\\/")


def render_html(
    trace, layers=None, neurons=(), budget=DEFAULT_BUDGET, sample=0, effective=None, title=None
):
    """The page as one string (see ``build_payload`` for the arguments)."""
    data = build_payload(
        trace, layers=layers, neurons=neurons, budget=budget, sample=sample, effective=effective
    )
    name = html.escape(title or f"cnnsim explorer: {trace.model}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{name}</title><style>{_asset('explorer.css')}</style></head><body>"
        '<header><h1>cnnsim explorer: <span id="model-name"></span></h1>'
        '<span class="note" id="exact-note"></span>'
        '<span class="note">click a layer, then a neuron; <kbd>←</kbd> <kbd>→</kbd> '
        "step through the layers</span></header>"
        '<main><div id="graph-pane"></div><div id="detail-pane"></div></main>'
        f"<script>window.CNNSIM_TRACE = {_script_json(data)};</script>"
        f"<script>{_asset('explorer.js')}</script></body></html>\n"
    )


def save_page(page, path):
    """Write an HTML page atomically (nothing half-written on failure); returns its size in
    bytes. The folder must exist and be writable (checked before anything is written)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise TraceError(f"explorer: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise TraceError(f"explorer: folder {folder!r} is not writable")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
    return len(page.encode("utf-8"))


def write_html(trace, path, **kw):
    """Write the explorer of ``trace`` to ``path`` (``save_page``); returns its size."""
    return save_page(render_html(trace, **kw), path)


class Explorer:
    """The page for Jupyter: ``_repr_html_`` is an ``<iframe srcdoc>`` (offline, isolated
    from the notebook's own scripts and styles)."""

    def __init__(self, trace, height=720, **kw):
        self.page = render_html(trace, **kw)
        self.height = int(height)

    def _repr_html_(self):
        return (
            f'<iframe srcdoc="{html.escape(self.page, quote=True)}" '
            f'style="width:100%;height:{self.height}px;border:1px solid #ddd" '
            f'sandbox="allow-scripts"></iframe>'
        )

    def save(self, path):
        return save_page(self.page, path)
