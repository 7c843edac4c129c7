"""Train LeNet-5 on MNIST (or, when the MNIST files are absent, on synthetic digits
rendered from fonts) and plot loss and accuracy per epoch.

Lecture question: does the 1998 architecture still learn handwritten digits?

    python demos/train_lenet5.py --out figs/train              # 2 epochs on 10,000 images
    python demos/train_lenet5.py --epochs 10 --limit 60000     # the whole training set
    python demos/train_lenet5.py --data-dir ~/data/mnist

MNIST is looked for in --data-dir, then $CNNSIM_DATA, then the per-user cache
(``cnnsim data download mnist`` puts it there); nothing is downloaded here.
"""

from _common import out_dir, parse, save


def _extra(ap):
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=10000, help="training images used")
    ap.add_argument("--data-dir", default=None, help="folder with MNIST's IDX files")
    ap.add_argument("--variant", default="modern", choices=["modern", "paper"])


def main(argv=None):
    args = parse(__doc__, argv, _extra)
    folder = out_dir(args, "train_lenet5")

    from cnnsim import models
    from cnnsim.plotting.training import training_figure
    from cnnsim.train import SGD, Trainer
    from cnnsim.train.data import load_for_model

    epochs, limit, test_limit = (1, 256, 128) if args.quick else (args.epochs, args.limit, 2000)
    net = models.build("lenet5", variant=args.variant, seed=0)
    (xtr, ytr), (xte, yte), note = load_for_model(
        "auto", net.input_shape, args.data_dir, limit=limit, test_limit=test_limit
    )
    print(f"LeNet-5 ({args.variant}, {net.param_count():,} parameters); data: {note}")
    trainer = Trainer(net, SGD(0.05, momentum=0.9), batch_size=64, seed=0, progress=False)
    history = trainer.fit((xtr, ytr), (xte, yte), epochs=epochs)
    for r in history.epochs:
        print(
            f"epoch {r['epoch']}: loss {r['train_loss']:.4f}, train accuracy "
            f"{r['train_accuracy']:.3f}, test accuracy {r['val_accuracy']:.3f}"
        )
    save(training_figure(history.as_dict(), "LeNet-5"), folder, "training.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
