"""``cnnsim bench``: time cnnsim's kernels beside NumPy (im2col), PyTorch and the slow
reference on the lecture's layers; print a table (or ``--json``)."""

import json

import click


def _ms(t):
    return f"{t * 1e3:9.2f}" if t is not None else "        -"


def _ratio(row, key):
    v = row.get(key)
    return f"{v:5.2f}" if v is not None else "    -"


def format_report(rep):
    env = rep["env"]
    lines = [
        f"cnnsim bench  {env['date']}  CPU: {env['cpu']} ({env['cpu_count']} cores), "
        f"threads: {env['threads']}, repeats: {env['repeat']}",
        f"numpy {env['numpy']}  numba {env['numba']}  torch {env['torch'] or 'not installed'}"
        f"  BLAS: {env['blas']}",
    ]
    if env.get("memory"):
        lines.append(f"allocator: {env['memory']}")
    pk = env.get("peak")
    if pk:
        lines.append(
            f"vectors: {pk['vector']['bits']}-bit ({pk['vector']['why']}); measured peak "
            f"(best before and after the rows) on {env['threads']} threads: "
            f"FMA loop {pk['fma_gflops']:.0f} GFLOP/s, numpy sgemm {pk['sgemm_gflops']:.0f} GFLOP/s"
        )
        if pk.get("simd_fma_gflops"):
            lines.append(
                f"  register tile's explicit {pk['simd_bits']}-bit vectors: FMA loop "
                f"{pk['simd_fma_gflops']:.0f} GFLOP/s; '% of peak' is of "
                f"{pk['peak_gflops']:.0f} GFLOP/s"
            )
    if env["openblas_env"]:
        lines.append(f"note: {env['openblas_env']} set; they can slow NumPy's BLAS (im2col column)")
    lines.append(f"method: {env['method']}")
    lines.append("")
    lines.append(
        f"{'layer':15s} {'batch':>5s} | {'fwd ms: cnnsim':>14s} {'numpy':>9s} {'torch':>9s} | "
        f"{'fwd+bwd ms: cnnsim':>18s} {'numpy':>9s} {'torch':>9s} | {'GFLOP/s':>7s} | "
        f"{'ratio fwd':>9s} {'fwd+bwd':>7s} {'target':>6s}"
    )
    for row in rep["rows"]:
        if row["status"] != "ok":
            lines.append(f"{row['name']:15s} {row['batch']:5d} | {row['status']}")
            continue
        f, fb = row["forward_s"], row["forward_backward_s"]
        gf = row.get("gflops", {}).get("cnnsim", {}).get("forward_backward")
        tgt = row.get("target_ratio")
        mark = ""
        if "meets_target" in row:
            mark = " ok" if row["meets_target"] else " MISS"
        lines.append(
            f"{row['name']:15s} {row['batch']:5d} | {_ms(f['cnnsim']):>14s} {_ms(f.get('numpy_im2col'))} "
            f"{_ms(f.get('torch'))} | {_ms(fb['cnnsim']):>18s} {_ms(fb.get('numpy_im2col'))} "
            f"{_ms(fb.get('torch'))} | {(f'{gf:7.1f}' if gf else '      -')} | "
            f"{_ratio(row, 'ratio_forward'):>9s} {_ratio(row, 'ratio_forward_backward'):>7s} "
            f"{(f'{tgt:.1f}' if tgt else '-'):>6s}{mark}"
            + (f"  ({100 * row['share_of_peak']:.0f}% of peak)" if "share_of_peak" in row else "")
        )
        if row["torch"] != "ok":
            lines.append(f"{'':15s}       torch: {row['torch']}")
        if "naive" in row:
            nv = row["naive"]
            lines.append(
                f"{'':15s}       {nv['label']}: fwd+bwd {nv['forward_backward_per_image_s'] * 1e3:.1f} ms"
                f" vs cnnsim {nv['cnnsim_forward_backward_per_image_s'] * 1e3:.3f} ms per image"
                f" -> {nv['speedup']:.0f}x faster"
            )
    lines.append("")
    for name, val in rep["extensions"].items():
        lines.append(f"{name}: {_ext_text(val)}")
    return "\n".join(lines)


def _ext_text(val, indent="    "):
    """A whole-model row: numbers rounded, nested dicts (per variant) on their own lines."""
    if not isinstance(val, dict):
        return str(val)
    parts, nested = [], []
    for k, v in val.items():
        if isinstance(v, dict):
            nested.append(f"{indent}{k}: {_ext_text(v, indent + '    ')}")
        elif isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        else:
            parts.append(f"{k}={v}")
    return "; ".join(parts) + "".join("\n" + n for n in nested)


@click.command("bench")
@click.option("--quick", is_flag=True, help="Batch 1 and one repeat: a smoke run in seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.option(
    "--only",
    default=None,
    metavar="NAME",
    help="Only layers whose name contains NAME (e.g. lenet, alexnet_c3, lrn).",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 1000),
    default=None,
    help="Timed repeats per implementation (median kept); default 7, 1 with --quick.",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 1024),
    default=2,
    show_default=True,
    help="Threads for Numba and PyTorch alike.",
)
def bench(quick, as_json, only, repeat, threads):
    """Time cnnsim's kernels against NumPy im2col, PyTorch (if installed) and the slow reference.

    Ratios are median cnnsim time / median PyTorch time (lower is better), measured
    round-robin in the same process.
    """
    from ..bench import run_bench

    try:
        rep = run_bench(only=only, is_quick=quick, repeat=repeat, threads=threads)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    click.echo(json.dumps(rep, indent=1) if as_json else format_report(rep))
