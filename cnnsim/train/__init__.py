"""Training: losses over networks, optimizers, schedules, metrics, checkpoints, the loop."""

from .checkpoint import load_checkpoint, save_checkpoint  # noqa: F401
from .loop import History, Trainer, TrainingDiverged  # noqa: F401
from .losses import network_loss  # noqa: F401
from .metrics import accuracy, top_k_error  # noqa: F401
from .optimizers import SGD, Adam, default_lr, make_optimizer  # noqa: F401
from .schedule import StepLR  # noqa: F401
