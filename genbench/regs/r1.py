"""R1 (Mescheder et al. 2018): gamma/2 * E_{x ~ data} ||grad D(x)||^2, zero-centred on real data."""

from __future__ import annotations

from genbench.regs.base import Regularizer
from genbench.regs.grad import input_grad_sq_norms


class R1Penalty(Regularizer):
    name = "r1"
    grad_at = ("real",)

    def __init__(self, weight: float = 10.0):
        self.weight = float(weight)

    def penalty(self, discriminator, x):
        return input_grad_sq_norms(discriminator, x).mean()

    def d_penalty(self, discriminator, real, fake, step):
        return 0.5 * self.weight * self.penalty(discriminator, real)
