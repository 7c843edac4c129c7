"""Learning-rate schedules."""


class StepLR:
    """``lr(epoch) = base * gamma ** (epoch // step_size)`` (AlexNet divided by 10 on plateaus)."""

    def __init__(self, base_lr, step_size=None, gamma=0.1):
        self.base_lr, self.step_size, self.gamma = float(base_lr), step_size, float(gamma)

    def __call__(self, epoch):
        if not self.step_size:
            return self.base_lr
        return self.base_lr * self.gamma ** (epoch // int(self.step_size))
