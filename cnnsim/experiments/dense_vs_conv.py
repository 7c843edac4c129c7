"""Why CNNs: a dense layer on a large image needs a huge number of parameters.

Pure arithmetic (no network is built). For an input ``C x H x W`` and a convolution of
``F`` filters ``k x k`` with stride ``s`` (output ``F x H_out x W_out``, ``n = F * H_out *
W_out`` output neurons, each reading ``C * k * k`` inputs)::

    dense, U units                  params  (C*H*W + 1) * U         MACs  C*H*W * U
    dense, same outputs as the conv params  (C*H*W + 1) * n         MACs  C*H*W * n
    locally connected (no sharing)  params  (C*k*k + 1) * n         MACs  C*k*k * n
    convolution (shared weights)    params  (C*k*k + 1) * F         MACs  C*k*k * n

Going from the second row to the third is the saving of *local connectivity* (each neuron
reads a k x k window, not the whole image); from the third to the fourth the saving of
*weight sharing* (all ``H_out * W_out`` neurons of a map use the same kernel). For the
lecture's numbers (3x224x224, 1000 units; AlexNet's C1: 96 filters 11x11, stride 4):
150,529,000 parameters for the dense layer against 34,944 for C1.
"""

import textwrap

from ..geometry import window


def _wrap(line, width=96):
    return textwrap.wrap(line, width, subsequent_indent="  ") if len(line) > width else [line]


def dense_vs_conv(
    input_shape=(3, 224, 224), units=1000, filters=96, kernel=11, stride=4, padding="same"
):
    """``{"config", "conv_output", "rows", "savings"}``; ``rows`` is a list of
    ``{"name", "params", "macs", "formula"}`` in the order of the module docstring;
    ``savings`` gives the factors ``local_connectivity``, ``weight_sharing``, ``total``
    (params of dense-same-outputs / conv) and ``dense_vs_conv`` (dense U units / conv)."""
    where = "dense-vs-conv"
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(
            f"{where}: input must be C x H x W with positive sizes, got {input_shape!r}"
        )
    for name, v in (("units", units), ("filters", filters), ("kernel", kernel), ("stride", stride)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{where}: {name} must be a positive integer, got {v!r}")
    c, h, w = (int(v) for v in input_shape)
    win = window((h, w), kernel, stride, padding, where=where)
    ho, wo = win.out_hw
    n_in = c * h * w
    fan = c * kernel * kernel
    n_out = filters * ho * wo
    rows = [
        {
            "name": f"dense, {units:,} units",
            "params": (n_in + 1) * units,
            "macs": n_in * units,
            "formula": f"({c}*{h}*{w} + 1) * {units}",
        },
        {
            "name": "dense, same outputs as the conv",
            "params": (n_in + 1) * n_out,
            "macs": n_in * n_out,
            "formula": f"({c}*{h}*{w} + 1) * {filters}*{ho}*{wo}",
        },
        {
            "name": "locally connected (no sharing)",
            "params": (fan + 1) * n_out,
            "macs": fan * n_out,
            "formula": f"({c}*{kernel}*{kernel} + 1) * {filters}*{ho}*{wo}",
        },
        {
            "name": f"convolution, {filters} filters",
            "params": (fan + 1) * filters,
            "macs": fan * n_out,
            "formula": f"({c}*{kernel}*{kernel} + 1) * {filters}",
        },
    ]
    p = [r["params"] for r in rows]
    return {
        "config": {
            "input_shape": [c, h, w],
            "units": units,
            "filters": filters,
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
        },
        "conv_output": [filters, ho, wo],
        "rows": rows,
        "savings": {
            "local_connectivity": p[1] / p[2],
            "weight_sharing": p[2] / p[3],
            "total": p[1] / p[3],
            "dense_vs_conv": p[0] / p[3],
        },
    }


def explanation(res):
    """The result as text: the two layers side by side, then the two savings."""
    cfg, rows, sv = res["config"], res["rows"], res["savings"]
    c, h, w = cfg["input_shape"]
    f, ho, wo = res["conv_output"]
    k, s = cfg["kernel"], cfg["stride"]
    lines = [
        f"Input {c}x{h}x{w} = {c * h * w:,} values; convolution: {f} filters {k}x{k}, "
        f"stride {s}, padding {cfg['padding']}",
        f"  -> {f}x{ho}x{wo} = {f * ho * wo:,} output neurons, each reading "
        f"{c}x{k}x{k} = {c * k * k:,} inputs",
        "",
        f"{'layer':<34}{'parameters':>17}{'multiply-adds':>17}",
    ]
    for r in rows:
        lines.append(f"{r['name']:<34}{r['params']:>17,}{r['macs']:>17,}")
    lines += ["", "parameters by hand:"]
    for r in rows:
        lines.append(f"  {r['name']:<32}{r['formula']} = {r['params']:,}")
    lines += [
        "",
        f"dense ({cfg['units']:,} units) vs convolution: {rows[0]['params']:,} vs "
        f"{rows[3]['params']:,} parameters ({sv['dense_vs_conv']:,.0f}x fewer)",
        f"local connectivity (each neuron reads {c}x{k}x{k}, not {c}x{h}x{w}): "
        f"{sv['local_connectivity']:,.0f}x fewer parameters",
        f"weight sharing (the {ho * wo:,} neurons of a map share one kernel): "
        f"{sv['weight_sharing']:,.0f}x fewer parameters",
        f"together: {sv['total']:,.0f}x fewer than a dense layer with the same outputs",
    ]
    lines = [ln for part in lines for ln in _wrap(part)]
    return "\n".join(lines)
