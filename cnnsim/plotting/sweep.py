"""Figures of sweeps (``cnnsim.experiments.sweep.summarize`` records in, ``Figure`` out).

* ``gradflow_sweep_figure``: gradient spread, log10(max / min ||dL/dW||) over the conv
  layers, as heat maps of depth x activation, one row per initialization (and any other
  swept setting), plain and residual side by side; each cell: mean +- std over seeds.
* ``train_sweep_figure``: final training and test error vs depth (or the swept setting)
  with error bars (std over seeds), one line per model / setting.
"""

import math

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

_SPREAD = "log10(max / min ‖∂L/∂W‖) over the conv layers"


def _values(records, name):
    out = []
    for r in records:
        v = r.get(name)
        if v not in out:
            out.append(v)
    return out


def _label(params):
    parts = []
    for k, v in params.items():
        if isinstance(v, bool):
            parts.append(k if v else f"no {k}")
        elif v is not None:
            parts.append(f"{k} {v}")
    return ", ".join(parts)


def gradflow_sweep_figure(summary):
    """Heat maps of the mean gradient spread (cells: mean +- std over seeds; "0 grad" where
    some seed's gradient underflowed to exactly zero in a layer: infinite spread)."""
    depths = sorted(_values(summary, "depth"))
    acts = _values(summary, "activation")
    kinds = sorted(_values(summary, "residual"))  # False (plain), True (residual)
    fixed = ("depth", "activation", "residual", "seeds", "failed", "underflow_seeds")
    others = [n for n in summary[0] if n not in fixed and not n.endswith(("_mean", "_std"))]
    varying = [n for n in others if len(_values(summary, n)) > 1]
    constant = {n: summary[0][n] for n in others if n not in varying}
    row_keys = []
    for r in summary:
        k = {n: r.get(n) for n in varying}
        if k not in row_keys:
            row_keys.append(k)
    finite = [r["spread_mean"] for r in summary if math.isfinite(r.get("spread_mean", math.nan))]
    vmax = max(finite + [1.0])
    fig = Figure(
        figsize=(4.2 * len(kinds) + 1.6, 1.4 + (0.5 * len(depths) + 0.7) * len(row_keys)),
        dpi=110,
        layout="constrained",
    )
    axes = np.atleast_2d(fig.subplots(len(row_keys), len(kinds), squeeze=False))
    im = None
    for i, rk in enumerate(row_keys):
        for j, res in enumerate(kinds):
            ax = axes[i, j]
            grid = np.full((len(depths), len(acts)), np.nan)
            text = [["" for _ in acts] for _ in depths]
            for r in summary:
                if r["residual"] != res or any(r.get(n) != v for n, v in rk.items()):
                    continue
                a, d = acts.index(r["activation"]), depths.index(r["depth"])
                m, s = r["spread_mean"], r["spread_std"]
                if math.isinf(m):
                    grid[d, a] = vmax
                    text[d][a] = f"0 grad\n{r['underflow_seeds']}/{r['seeds']} seeds"
                elif math.isfinite(m):
                    grid[d, a] = m
                    text[d][a] = f"{m:.1f}\n± {s:.1f}"
                else:
                    text[d][a] = "failed" if r["failed"] else "n/a"
            # square-root colour scale: one spread of 60 must not wash out 0..5
            im = ax.imshow(
                grid,
                cmap="viridis",
                norm=PowerNorm(0.5, vmin=0, vmax=vmax),
                aspect="auto",
                origin="lower",
            )
            for d in range(len(depths)):
                for a in range(len(acts)):
                    light = np.isfinite(grid[d, a]) and grid[d, a] < 0.4 * vmax
                    ax.text(
                        a,
                        d,
                        text[d][a],
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if light else "black",
                    )
            ax.set_xticks(range(len(acts)))
            ax.set_xticklabels(acts)
            ax.set_yticks(range(len(depths)))
            ax.set_yticklabels(depths)
            if j == 0:
                ax.set_ylabel(f"{_label(rk)}\ndepth (conv layers)" if rk else "depth (conv layers)")
            if i == 0:
                ax.set_title("residual" if res else "plain", fontsize=10)
    fig.colorbar(im, ax=axes.ravel().tolist(), label=_SPREAD, shrink=0.9)
    fig.suptitle(
        "Gradient spread at initialization: 0 = every conv layer gets the same "
        "gradient, k = 10^k times\nbetween the best- and the worst-fed layer; "
        f"mean ± std over seeds ({_label(constant)})"
        + (
            '\n"0 grad": in that many seeds some layer\'s gradient underflowed to exactly '
            "0 (float32): infinite spread"
            if any(r.get("underflow_seeds") for r in summary)
            else ""
        ),
        fontsize=9,
    )
    return fig


def train_sweep_figure(summary):
    """Final training error and test error (mean +- std over seeds) vs depth, or vs the
    first other swept setting when depth is not swept; one line per remaining setting."""
    varying = [
        n
        for n in ("depth", "lr", "batch", "epochs", "width", "variant", "model", "data")
        if len(_values(summary, n)) > 1
    ]
    x_name = "depth" if "depth" in varying else (varying[0] if varying else "model")
    series = [n for n in varying if n != x_name]
    xs = _values(summary, x_name)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    xs = sorted(xs) if numeric else xs
    fig = Figure(figsize=(11, 4.2), dpi=110)
    axes = fig.subplots(1, 2, sharey=True)
    groups = []
    for r in summary:
        k = {n: r.get(n) for n in series}
        if k not in groups:
            groups.append(k)
    for ax, metric, title in zip(
        axes,
        ("train_error", "test_error"),
        ("training error (final epoch)", "test error (final epoch)"),
    ):
        for g in groups:
            pts = [r for r in summary if all(r.get(n) == v for n, v in g.items())]
            pts.sort(key=lambda r: xs.index(r.get(x_name)))
            x = [r.get(x_name) if numeric else xs.index(r.get(x_name)) for r in pts]
            y = [r[f"{metric}_mean"] for r in pts]
            e = [r[f"{metric}_std"] for r in pts]
            seeds = min((r["seeds"] for r in pts), default=0)
            ax.errorbar(
                x,
                y,
                yerr=e,
                marker="o",
                capsize=4,
                ls="-" if numeric else "none",
                label=f"{_label(g) or pts[0].get('model')} ({seeds} seeds)",
            )
        ax.set_xlabel(x_name)
        if numeric:
            ax.set_xticks(xs)
        else:
            ax.set_xticks(range(len(xs)))
            ax.set_xticklabels([str(v) for v in xs])
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("error (mean ± std over seeds)")
    fig.suptitle(f"Training sweep: final error vs {x_name}")
    fig.tight_layout()
    return fig
