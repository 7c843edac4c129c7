"""Local response normalization (AlexNet): a strongly activated map inhibits its neighbours.

    b_i = a_i (k + alpha * sum_{j=max(0, i-r//2)}^{min(i+r//2, C-1)} a_j^2)^(-beta)

Lecture question: what does LRN do to the maps next to a strongly active one? And how do
the lecture's r, k, alpha, beta map to TensorFlow and PyTorch?

    python demos/lrn_effect.py --out figs/lrn
"""

from _common import out_dir, parse, save


def main(argv=None):
    args = parse(__doc__, argv)
    folder = out_dir(args, "lrn_effect")

    import numpy as np
    from matplotlib.figure import Figure

    from cnnsim import functional as F

    r, k, alpha, beta = 5, 2.0, 1e-4, 0.75  # AlexNet paper's constants
    c = 16
    a = np.full((1, c, 1, 1), 20.0, dtype=np.float64)  # one pixel, 16 maps, all at 20 ...
    a[0, 7] = 150.0  # ... except map 7, strongly active
    b = F.lrn(a, r, k, alpha, beta)
    ratio = (b / a)[0, :, 0, 0]
    print(
        f"LRN r={r}, k={k:g}, alpha={alpha:g}, beta={beta:g} on one pixel of {c} maps "
        f"(map 7 = 150, the others 20):"
    )
    print("  map    a_i      b_i    b_i / a_i")
    for i in range(c):
        mark = (
            "  <- strong map"
            if i == 7
            else ("  <- neighbour (inhibited)" if abs(i - 7) <= r // 2 else "")
        )
        print(f"  {i:3d} {a[0, i, 0, 0]:7.1f} {b[0, i, 0, 0]:8.3f} {ratio[i]:9.3f}{mark}")
    far = ratio[3]
    print(
        f"maps within r//2 = {r // 2} of map 7 keep {ratio[6]:.3f} of their value, map 3 (far "
        f"away) {far:.3f}: {1 - ratio[6] / far:.0%} extra suppression next to the strong map"
    )
    print("(maps 0, 1, 14, 15 have clipped windows: fewer neighbours, less suppression)")

    # The same function in the libraries (see docs/alexnet.md):
    #   TensorFlow: tf.nn.local_response_normalization(x_nhwc, depth_radius=r//2, bias=k,
    #               alpha=alpha, beta=beta)
    #   PyTorch:    torch.nn.LocalResponseNorm(size=r, alpha=alpha*r, beta=beta, k=k)
    try:
        import torch
    except ImportError:
        print("PyTorch comparison skipped: PyTorch is not installed (pip install '.[test]')")
    else:
        x = np.random.default_rng(0).standard_normal((2, c, 3, 3)) * 50
        t = torch.nn.LocalResponseNorm(size=r, alpha=alpha * r, beta=beta, k=k)(
            torch.from_numpy(x)
        ).numpy()
        print(
            f"PyTorch LocalResponseNorm(size={r}, alpha={alpha * r:g}, beta={beta}, k={k}) "
            f"vs cnnsim lrn: max |difference| = {np.abs(t - F.lrn(x, r, k, alpha, beta)).max():.2e}"
        )

    fig = Figure(figsize=(7, 3.4), dpi=80)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(np.arange(c), ratio, color=["tab:red" if i == 7 else "tab:blue" for i in range(c)])
    ax.axvspan(
        7 - r // 2 - 0.5,
        7 + r // 2 + 0.5,
        color="orange",
        alpha=0.15,
        label=f"window of map 7 (r = {r})",
    )
    ax.set_ylim(ratio.min() * 0.9, ratio.max() * 1.05)
    ax.set_xlabel("map i")
    ax.set_ylabel("b_i / a_i")
    ax.set_title("LRN: map 7 is strong; its neighbours are scaled down most")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save(fig, folder, "lrn_effect.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
