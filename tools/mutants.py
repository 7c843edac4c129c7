"""Mutation check: plant realistic bugs one at a time in a temporary copy of the tree and
check that the tests meant to catch each one fail.

    python tools/mutants.py                 # every mutant, then the table
    python tools/mutants.py --list          # the documented list, nothing run
    python tools/mutants.py wd-sign rbf-grad-sign     # a few, by id
    python tools/mutants.py --markdown      # the table as Markdown (docs/testing.md)

Each mutant replaces one exact piece of source (it must occur exactly once, so a mutant that
no longer applies after a refactor is reported, never silently skipped) and runs the test
files listed with it, in a copy of the tree (``cnnsim``, ``tests``, ``demos``, ``docs``, the
packaging files) with ``PYTHONPATH`` pointing at the copy. A mutant is **caught** when pytest
exits 1 (tests ran and failed); exit 0 is **SURVIVED**; anything else (a collection error, a
timeout) is **ERROR**, not counted as caught. Before the mutants, every test selection runs
once on the unmodified copy and must pass (``--no-baseline`` skips that).

Tests run as CI runs them: ``CI=true`` (hypothesis derandomized, tests/conftest.py), no real
MNIST, the thorough 200-example kernel tests left out (``-m "not thorough"``: the few examples
of the ordinary property tests and the hand-worked cases must be enough to catch these).
Numba's on-disk caches are copied with the tree (same mtimes: they stay valid); when a mutant
edits a file with ``@njit`` kernels, the kernel caches of the copy are deleted so nothing
compiled from the original source is reused.

New modules add their mutants here; the exit status is 0 only when every mutant is caught.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parents[1]
COPY = ["cnnsim", "tests", "demos", "docs", "setup.cfg", "pyproject.toml", "README.md"]


@dataclass
class Mutant:
    id: str
    file: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    why: str  # the bug, in words
    tests: list  # pytest arguments: files, node ids, -k expressions
    kernel: bool = field(default=False)  # the file holds @njit kernels: drop Numba caches


MUTANTS = [
    # ---- training ------------------------------------------------------------------------
    Mutant(
        "wd-sign",
        "cnnsim/train/optimizers.py",
        "g = g + self.weight_decay * p",
        "g = g - self.weight_decay * p",
        "weight decay's sign flipped (weights grow instead of shrinking)",
        ["tests/test_train_values.py", "-k", "sgd or adam or weight_decay"],
    ),
    Mutant(
        "wd-on-biases",
        "cnnsim/train/optimizers.py",
        'return name == "w"',
        "return True",
        "weight decay applied to biases too",
        ["tests/test_train_values.py", "-k", "sgd or adam or weight_decay"],
    ),
    Mutant(
        "momentum-never-decays",
        "cnnsim/train/optimizers.py",
        "        v *= self.momentum\n",
        "",
        "SGD's velocity is never multiplied by the momentum (sums every past step)",
        ["tests/test_train_values.py", "-k", "sgd or weight_decay"],
    ),
    Mutant(
        "adam-no-bias-correction",
        "cnnsim/train/optimizers.py",
        "mh = m / (1 - self.beta1 ** self.t)",
        "mh = m",
        "Adam's first moment not bias-corrected",
        ["tests/test_train_values.py", "-k", "adam"],
    ),
    Mutant(
        "adam-eps-inside-sqrt",
        "cnnsim/train/optimizers.py",
        "(np.sqrt(vh) + self.eps)",
        "np.sqrt(vh + self.eps)",
        "Adam's epsilon added under the square root",
        ["tests/test_train_values.py", "-k", "adam"],
    ),
    Mutant(
        "steplr-off-by-one",
        "cnnsim/train/schedule.py",
        "epoch // int(self.step_size)",
        "(epoch + 1) // int(self.step_size)",
        "StepLR decays one epoch early",
        ["tests/test_train_values.py", "-k", "step_lr or schedule"],
    ),
    Mutant(
        "checkpoint-loses-t",
        "cnnsim/train/checkpoint.py",
        'optimizer.load_state_dict({"t": meta["optimizer"]["t"]',
        'optimizer.load_state_dict({"t": 0',
        "a resumed optimizer restarts its step count (Adam's bias correction restarts)",
        ["tests/test_train_values.py", "-k", "checkpoint"],
    ),
    Mutant(
        "checkpoint-zeroes-buffers",
        "cnnsim/train/checkpoint.py",
        'arrays = {k[4:]: z[k].copy() for k in z.files if k.startswith("opt/")}',
        'arrays = {k[4:]: 0 * z[k] for k in z.files if k.startswith("opt/")}',
        "momentum / Adam buffers restored as zeros (only the keys survive)",
        ["tests/test_train_values.py", "-k", "checkpoint"],
    ),
    Mutant(
        "rbf-grad-sign",
        "cnnsim/train/losses.py",
        "dy = dy if sign == 1.0 else -to_host(dy)",
        "dy = dy if sign == 1.0 else to_host(dy)",
        "the RBF output's loss gradient not negated with its logits",
        ["tests/test_train_values.py", "-k", "rbf or paper_lenet5"],
    ),
    Mutant(
        "aux-weight-1",
        "cnnsim/train/losses.py",
        "training=True, backward=True, aux_weight=0.3",
        "training=True, backward=True, aux_weight=1.0",
        "GoogLeNet's auxiliary losses added with weight 1 instead of 0.3",
        ["tests/test_experiment_values.py", "-k", "googlenet"],
    ),
    Mutant(
        "aux-grad-unweighted",
        "cnnsim/train/losses.py",
        "daux = [aux_weight * F.softmax_cross_entropy_backward(p, labels)",
        "daux = [F.softmax_cross_entropy_backward(p, labels)",
        "the auxiliary heads' gradients not scaled by their weight",
        ["tests/test_experiment_values.py", "-k", "auxiliary_gradients"],
    ),
    Mutant(
        "top-k-off-by-one",
        "cnnsim/train/metrics.py",
        "[:, :k]",
        "[:, :k + 1]",
        "top-k error counts k+1 guesses",
        ["tests/test_train.py", "-k", "top_k"],
    ),
    # ---- experiments -----------------------------------------------------------------------
    Mutant(
        "degradation-accuracy-as-error",
        "cnnsim/experiments/runs.py",
        '"test_error": [1 - r["val_accuracy"] for r in ep]',
        '"test_error": [r["val_accuracy"] for r in ep]',
        "the training experiments (degradation, ...) report test accuracy as their error",
        ["tests/test_experiment_values.py", "-k", "degradation"],
    ),
    Mutant(
        "degradation-verdict-inverted",
        "cnnsim/experiments/degradation.py",
        "plain_worse, resid_worse = pd - ps > tolerance, rd - rs > tolerance",
        "plain_worse, resid_worse = ps - pd > tolerance, rd - rs > tolerance",
        "the degradation verdict calls the deeper plain net worse when it trains better",
        ["tests/test_experiments.py", "-k", "verdict"],
    ),
    Mutant(
        "dead-fraction-inverted",
        "cnnsim/experiments/gradflow.py",
        'rec["dead"] = float(1.0 - alive.mean())',
        'rec["dead"] = float(alive.mean())',
        "gradient flow reports the live fraction as dead",
        ["tests/test_experiment_values.py", "-k", "dead"],
    ),
    Mutant(
        "dead-counts-zeros",
        "cnnsim/experiments/gradflow.py",
        "alive = np.any(y > 0, axis=0)",
        "alive = y > 0",
        "dead = fraction of zero outputs, not of units silent for the whole batch",
        ["tests/test_experiment_values.py", "-k", "dead"],
    ),
    Mutant(
        "saturation-threshold",
        "cnnsim/engine/stats.py",
        '"sigmoid": (0.01, 0.99)',
        '"sigmoid": (0.1, 0.9)',
        "sigmoid counted saturated within 10% of an asymptote instead of 1%",
        ["tests/test_experiment_values.py", "-k", "saturated"],
    ),
    Mutant(
        "ratio-inverted",
        "cnnsim/experiments/gradflow.py",
        "float(v[0] / v[-1])",
        "float(v[-1] / v[0])",
        "first/last gradient ratio computed last/first",
        ["tests/test_experiment_values.py", "-k", "ratio"],
    ),
    # ---- the six kernel / geometry mutants the audit found caught (issue 24) ----------------
    Mutant(
        "same-split-top",
        "cnnsim/geometry.py",
        "return total // 2, total - total // 2",
        "return total - total // 2, total // 2",
        "SAME padding puts the odd extra row/column at the top/left (not TensorFlow's rule)",
        ["tests/test_conv.py"],
    ),
    Mutant(
        "maxpool-last-tie",
        "cnnsim/kernels/pool.py",
        "            if val > best or (nan_aware and val != val and best == best):",
        "            if val >= best or (nan_aware and val != val and best == best):",
        "max pooling's gradient goes to the last of tied maxima, not the first",
        ["tests/test_pool.py"],
        kernel=True,
    ),
    Mutant(
        "lrn-radius",
        "cnnsim/kernels/lrn.py",
        "    c_, w = a.shape\n    h = r // 2\n",
        "    c_, w = a.shape\n    h = r\n",
        "LRN's forward window spans r maps on each side instead of r//2",
        ["tests/test_lrn.py"],
        kernel=True,
    ),
    Mutant(
        "dropout-scale",
        "cnnsim/functional/dropout.py",
        "keep / (1.0 - rate)",
        "keep * (1.0 - rate)",
        "dropout scales kept units by (1 - rate) instead of 1 / (1 - rate)",
        ["tests/test_dropout.py"],
    ),
    Mutant(
        "rf-jump",
        "cnnsim/geometry.py",
        "end + (f - 1 - p) * jump, jump * s",
        "end + (f - 1 - p) * jump, s",
        "receptive field's jump not compounded across layers",
        ["tests/test_engine_receptive_field.py"],
    ),
    Mutant(
        "bn-running-var-biased",
        "cnnsim/functional/normalization.py",
        "* (m / (m - 1))",
        "* 1.0",
        "batch norm's running variance tracks the biased batch variance",
        ["tests/test_batchnorm.py"],
    ),
    # ---- more kernels ----------------------------------------------------------------------
    Mutant(
        "ce-grad-not-averaged",
        "cnnsim/kernels/losses.py",
        "inv_n = 1.0 / n_",
        "inv_n = 1.0",
        "cross-entropy gradient not divided by the batch size",
        ["tests/test_losses.py"],
        kernel=True,
    ),
    Mutant(
        "scaled-tanh-slope",
        "cnnsim/kernels/activations.py",
        "SCALED_TANH_S = 2.0 / 3.0",
        "SCALED_TANH_S = 3.0 / 2.0",
        "LeCun's scaled tanh with S = 3/2 instead of 2/3",
        ["tests/test_activations.py"],
        kernel=True,
    ),
    # ---- demos and docs ----------------------------------------------------------------------
    Mutant(
        "lrn-demo-torch-alpha",
        "demos/lrn_effect.py",
        "alpha=alpha * r, beta=beta, k=k)(",
        "alpha=alpha, beta=beta, k=k)(",
        "the LRN demo maps alpha to PyTorch without multiplying by r",
        ["tests/test_demos.py", "-k", "pytorch"],
    ),
    Mutant(
        "conv-macs-no-width",
        "cnnsim/layers/conv.py",
        "return self.connected() * fh * fw * ho * wo",
        "return self.connected() * fh * fw * ho",
        "a convolution's multiply-adds forget the output width (docs print 117600)",
        ["tests/test_docs.py", "-k", "marked_blocks_run and convolution"],
    ),
    Mutant(
        "rf-demo-recurrence",
        "cnnsim/geometry.py",
        "return start - p * jump, end + (f - 1 - p) * jump,",
        "return start - p * jump, end + (f - 1 - p),",
        "receptive field's far edge grows by f - 1 - p input pixels, not times the jump",
        ["tests/test_demos.py", "-k", "receptive_fields"],
    ),
]


def copy_tree(dest):
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(
                src,
                dest / name,
                symlinks=True,
                ignore=shutil.ignore_patterns(".pytest_cache", ".hypothesis"),
            )
        elif src.exists():
            shutil.copy2(src, dest / name)


def drop_kernel_caches(tree):
    for f in (tree / "cnnsim").rglob("*.nb[ic]"):
        f.unlink()


def pytest(tree, args, timeout):
    env = dict(os.environ, PYTHONPATH=str(tree), CI="true", CNNSIM_DATA=str(tree / "no-data"))
    env.pop("CNNSIM_HYPOTHESIS", None)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-rf",
        "-m",
        "not thorough",
        "--rootdir",
        str(tree),
        "-o",
        "addopts=",
        *args,
    ]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        rc, out = "timeout", ""
    # what caught it: the first failing test and the start of its error, else pytest's last line
    failed = [l[len("FAILED ") :] for l in out.splitlines() if l.startswith("FAILED ")]
    tail = failed[:1] or [l for l in out.splitlines() if l.strip()][-1:] or [""]
    return rc, time.perf_counter() - t0, tail[0][:110], out


def plant(tree, m):
    path = tree / m.file
    text = path.read_text()
    n = text.count(m.old)
    if n != 1:
        return f"the mutant's source occurs {n} times in {m.file} (expected once): update it"
    tmp = path.with_suffix(".mutant")
    tmp.write_text(text.replace(m.old, m.new))
    os.replace(tmp, path)  # a new file: never writes through to the pristine copy
    if m.kernel:
        drop_kernel_caches(tree)
    return None


def run(mutants, baseline=True, timeout=900, keep=False, stream=sys.stdout):
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnnsim-mutants-") as tmp:
        pristine = pathlib.Path(tmp) / "pristine"
        pristine.mkdir()
        copy_tree(pristine)
        if baseline:
            seen = set()
            for m in mutants:
                key = tuple(m.tests)
                if key in seen:
                    continue
                seen.add(key)
                rc, dt, tail, out = pytest(pristine, m.tests, timeout)
                print(
                    f"baseline {' '.join(m.tests)}: exit {rc} ({dt:.0f} s) {tail}",
                    file=stream,
                    flush=True,
                )
                if rc != 0:
                    print(out[-4000:], file=stream)
                    raise SystemExit(
                        f"the unmodified tree fails {' '.join(m.tests)}: fix that first"
                    )
        for m in mutants:
            tree = pathlib.Path(tmp) / m.id
            shutil.copytree(pristine, tree, symlinks=True)
            problem = plant(tree, m)
            if problem:
                rows.append((m, "ERROR", 0.0, problem))
            else:
                rc, dt, tail, out = pytest(tree, m.tests, timeout)
                verdict = "caught" if rc == 1 else ("SURVIVED" if rc == 0 else "ERROR")
                rows.append(
                    (m, verdict, dt, tail if rc != "timeout" else f"timeout after {timeout} s")
                )
            print(
                f"{m.id:32s} {rows[-1][1]:9s} {rows[-1][2]:6.0f} s  {rows[-1][3]}",
                file=stream,
                flush=True,
            )
            if not keep:
                shutil.rmtree(tree, ignore_errors=True)
    return rows


def table(rows, markdown=False):
    if markdown:
        lines = [
            "| mutant | file | bug planted | result | caught by (first failing test) |",
            "|---|---|---|---|---|",
        ]
        for m, verdict, _, how in rows:
            how = how.replace("|", "\\|")
            lines.append(f"| `{m.id}` | `{m.file}` | {m.why} | {verdict} | {how} |")
    else:
        lines = [f"{'mutant':30s} {'result':9s} {'s':>4s}  file: bug\n{'':46s}caught by"]
        for m, verdict, dt, how in rows:
            lines.append(f"{m.id:30s} {verdict:9s} {dt:4.0f}  {m.file}: {m.why}\n{'':46s}{how}")
    caught = sum(v == "caught" for _, v, _, _ in rows)
    lines.append(f"\n{caught} of {len(rows)} mutants caught")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("ids", nargs="*", help="mutant ids (default: all)")
    ap.add_argument("--list", action="store_true", help="print the documented list and exit")
    ap.add_argument("--markdown", action="store_true", help="print the final table as Markdown")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmodified runs")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per pytest run")
    args = ap.parse_args(argv)
    known = {m.id: m for m in MUTANTS}
    unknown = [i for i in args.ids if i not in known]
    if unknown:
        ap.error(f"unknown mutant(s) {', '.join(unknown)}; see --list")
    chosen = [known[i] for i in args.ids] if args.ids else MUTANTS
    if args.list:
        for m in chosen:
            print(f"{m.id:32s} {m.file}: {m.why}\n{'':32s} tests: {' '.join(m.tests)}")
        return 0
    rows = run(chosen, baseline=not args.no_baseline, timeout=args.timeout)
    print()
    print(table(rows, args.markdown))
    return 0 if all(v == "caught" for _, v, _, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
