"""Training: losses over networks, optimizers, schedules, metrics, checkpoints, the loop."""
from .losses import network_loss  # noqa: F401
from .optimizers import SGD, Adam, default_lr, make_optimizer  # noqa: F401
from .schedule import StepLR  # noqa: F401
from .metrics import accuracy, top_k_error  # noqa: F401
from .checkpoint import save_checkpoint, load_checkpoint  # noqa: F401
from .loop import Trainer, TrainingDiverged, History  # noqa: F401
