"""Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): Gaussian noise on every D input,
real and fake, so the two distributions overlap; its std falls linearly to 0 over `anneal_steps`."""

from __future__ import annotations

import torch

from genbench.parallel import distributed
from genbench.regs.base import Regularizer


class InstanceNoise(Regularizer):
    name = "instance_noise"

    def __init__(self, std: float = 0.1, anneal_steps: int | None = None):
        self.std, self.anneal_steps = float(std), anneal_steps

    def current_std(self, step: int) -> float:
        if not self.anneal_steps:
            return self.std
        return self.std * max(0.0, 1.0 - step / self.anneal_steps)

    def perturb(self, x: torch.Tensor, step: int) -> torch.Tensor:
        std = self.current_std(step)
        return x + std * distributed.randn_like(x) if std > 0 else x
