"""The training loop: seeded shuffling, mini-batches, evaluation, checkpoints, NaN guard.

    trainer = Trainer(net, SGD(0.05), batch_size=64, seed=0, out_dir="runs/lenet5")
    history = trainer.fit((x_train, y_train), (x_test, y_test), epochs=2)

A non-finite loss stops training with ``TrainingDiverged`` naming the step and the first
layer whose output (or, failing that, whose gradient) stopped being finite; the last good
checkpoint (end of the previous epoch) is left untouched.
"""

import math
import os
import sys
import time
from dataclasses import dataclass, field

import click
import numpy as np

from ..functional._dispatch import to_host
from ..layers.base import observe
from .checkpoint import save_checkpoint
from .losses import network_loss, predict_scores
from .metrics import accuracy, top_k_error
from .schedule import StepLR

#: the progress bar's loss is the mean over this many latest batches (it follows the
#: current weights); the epoch line reports the mean over every batch of the epoch
RUNNING = 50


class TrainingDiverged(RuntimeError):
    pass


@dataclass
class History:
    epochs: list = field(default_factory=list)  # one dict per epoch
    steps: list = field(default_factory=list)  # (step, loss, batch accuracy)

    def as_dict(self):
        return {"epochs": self.epochs, "steps": [list(s) for s in self.steps]}


class _FirstNonFinite:
    """Observer: the first leaf whose output / input-gradient is not finite."""

    def __init__(self):
        self.forward = None
        self.backward = None

    def on_forward(self, layer, x, y, dt):
        if self.forward is None and not np.all(np.isfinite(to_host(y))):
            self.forward = layer.path

    def on_backward(self, layer, dy, dx):
        if self.backward is None and dx is not None:
            parts = dx if isinstance(dx, list) else [dx]
            if not all(np.all(np.isfinite(to_host(p))) for p in parts):
                self.backward = layer.path


class Trainer:
    def __init__(
        self,
        net,
        optimizer,
        batch_size=64,
        seed=0,
        schedule=None,
        augment=None,
        out_dir=None,
        progress=True,
        on_step=None,
        aux_weight=0.3,
        meta=None,
        on_epoch=None,
    ):
        self.net, self.optimizer = net, optimizer
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.schedule = schedule or StepLR(optimizer.lr)
        self.augment = augment
        self.out_dir = out_dir
        self.progress = progress
        self.on_step = on_step  # callback(trainer, step) e.g. gradient-flow records
        self.aux_weight = aux_weight
        self.on_epoch = on_epoch  # callback(record) as each epoch ends (after the test)
        self.meta = dict(meta or {})  # saved in every checkpoint (e.g. the preprocessing)
        self.step = 0
        self.start_epoch = 0
        self.history = History()

    def checkpoint_path(self):
        return None if self.out_dir is None else os.path.join(self.out_dir, "checkpoint.npz")

    def fit(self, train, val=None, epochs=1):
        x, y = train
        if self.out_dir:
            os.makedirs(self.out_dir, exist_ok=True)
        for epoch in range(self.start_epoch, self.start_epoch + epochs):
            self.optimizer.lr = self.schedule(epoch)
            rec = self._epoch(x, y, epoch)
            if val is not None:
                rec.update(self.evaluate(*val))
            self.history.epochs.append(rec)
            # the guard in train_step runs before each update; the epoch's last update
            # could still have made a weight NaN/inf: never save (or report) such weights
            self._check_weights()
            if self.on_epoch is not None:
                self.on_epoch(rec)
            if self.out_dir:
                save_checkpoint(
                    self.checkpoint_path(),
                    self.net,
                    self.optimizer,
                    epoch=epoch + 1,
                    step=self.step,
                    history=self.history.as_dict(),
                    **self.meta,
                )
        self.start_epoch += epochs
        return self.history

    def _epoch(self, x, y, epoch):
        rng = np.random.default_rng([self.seed, epoch])  # same seed, same order
        order = rng.permutation(len(x))
        n_batches = math.ceil(len(x) / self.batch_size)
        t0 = time.perf_counter()
        losses, correct, seen = [], 0, 0
        bar = (
            click.progressbar(
                length=n_batches,
                label=f"epoch {epoch + 1}",
                file=sys.stderr,
                show_eta=True,
                item_show_func=lambda s: s,
            )
            if self.progress
            else None
        )
        try:
            for b in range(n_batches):
                idx = order[b * self.batch_size : (b + 1) * self.batch_size]
                xb, yb = x[idx], y[idx]
                if self.augment is not None:
                    xb = self.augment(xb, rng)
                loss, probs = self.train_step(xb, yb)
                losses.append(loss)
                hits = int((np.argmax(probs, axis=1) == yb).sum())
                correct += hits
                seen += len(yb)
                self.history.steps.append((self.step, loss, hits / len(yb)))
                if bar is not None:
                    bar.update(
                        1,
                        f"loss {np.mean(losses[-RUNNING:]):.4f} (mean of the last "
                        f"{min(RUNNING, len(losses))} batches), acc {correct / seen:.3f}",
                    )
        finally:
            if bar is not None:
                bar.render_finish()
        return {
            "epoch": epoch + 1,
            "lr": self.optimizer.lr,
            "train_loss": float(np.mean(losses)),
            "train_accuracy": correct / max(seen, 1),
            "seconds": time.perf_counter() - t0,
        }

    def train_step(self, xb, yb):
        self.step += 1
        loss, probs = network_loss(self.net, xb, yb, training=True, aux_weight=self.aux_weight)
        grads_ok = all(
            np.all(np.isfinite(to_host(l.grads[k]))) for l, k, _ in self.net.parameters()
        )
        if not math.isfinite(loss) or not grads_ok:
            self._diverged(xb, yb, loss)
        self.optimizer.step(self.net)
        if self.on_step is not None:
            self.on_step(self, self.step)
        return loss, probs

    def _kept(self):
        """The end of a divergence message: where the last good checkpoint is, if any."""
        path = self.checkpoint_path()
        return f"; last good checkpoint kept at {path}" if path and os.path.exists(path) else ""

    def _check_weights(self):
        bad = [
            f"{l.path}.{k}"
            for l, k, p in self.net.parameters()
            if not np.all(np.isfinite(to_host(p)))
        ]
        if bad:
            raise TrainingDiverged(
                f"training diverged at step {self.step}: the update made "
                f"{len(bad)} parameter(s) non-finite, first {bad[0]} (try a "
                f"lower learning rate){self._kept()}"
            )

    def _diverged(self, xb, yb, loss):
        finder = _FirstNonFinite()
        with observe(finder):
            try:
                network_loss(self.net, xb, yb, training=False)
            except Exception:
                pass
        if finder.forward:
            where = f"the output of layer {finder.forward!r}"
        elif finder.backward:
            where = f"the gradient flowing back through layer {finder.backward!r}"
        else:
            where = "the loss"
        raise TrainingDiverged(
            f"training diverged at step {self.step}: loss = {loss}; "
            f"non-finite values first appeared in {where} (try a lower "
            f"learning rate){self._kept()}"
        )

    def evaluate(self, x, y, batch_size=256):
        scores = predict_scores(self.net, x, batch_size)
        eps = 1e-12
        if np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1, atol=1e-3):
            probs = scores
        else:  # logits or negative distances: softmax them for the loss
            z = scores - scores.max(axis=1, keepdims=True)
            probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        loss = float(-np.mean(np.log(probs[np.arange(len(y)), y] + eps)))
        return {
            "val_loss": loss,
            "val_accuracy": accuracy(scores, y),
            "val_top5_error": top_k_error(scores, y, 5),
        }
