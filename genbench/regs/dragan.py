"""DRAGAN (Kodali et al. 2017): a one-centred gradient penalty in a neighbourhood of the real data,
lambda * E[(||grad D(x_p)|| - 1)^2], x_p = x + alpha * delta, delta = c * std(x) * U[0, 1]."""

from __future__ import annotations

from genbench.parallel import distributed
from genbench.regs.gp import GradientPenalty


class DRAGANPenalty(GradientPenalty):
    name = "dragan"

    def __init__(self, weight: float = 10.0, perturbation: float = 0.5):
        super().__init__(weight=weight, center=1.0)
        self.perturbation = float(perturbation)

    def d_penalty(self, discriminator, real, fake, step):
        delta = self.perturbation * real.std() * distributed.rand_like(real)
        alpha = distributed.rand_rows(real)
        return self.weight * self.penalty(discriminator, real + alpha * delta)
