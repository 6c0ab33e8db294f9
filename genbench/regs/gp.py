"""Gradient penalty on real-fake interpolates: lambda * E[(||grad D(x_hat)|| - center)^2].
center=1 is WGAN-GP's (Gulrajani et al. 2017; reg=gp); center=0 the zero-centred variant (reg=gp0)."""

from __future__ import annotations

from genbench.regs.base import Regularizer
from genbench.regs.grad import input_grad_norms, input_grad_sq_norms, interpolate


class GradientPenalty(Regularizer):
    name = "gp"

    def __init__(self, weight: float = 10.0, center: float = 1.0):
        self.weight, self.center = float(weight), float(center)

    def penalty(self, discriminator, x):
        if self.center == 0:  # same value; no square root, so twice differentiable at a zero gradient
            return input_grad_sq_norms(discriminator, x).mean()
        return (input_grad_norms(discriminator, x) - self.center).pow(2).mean()

    def d_penalty(self, discriminator, real, fake, step):
        return self.weight * self.penalty(discriminator, interpolate(real, fake.detach()))
