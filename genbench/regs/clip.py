"""Weight clipping (Arjovsky et al. 2017): after each critic step every parameter is clamped to
[-bound, bound], a crude way of keeping the critic Lipschitz."""

from __future__ import annotations

import torch

from genbench.regs.base import Regularizer


class WeightClipping(Regularizer):
    name = "clip"

    def __init__(self, bound: float = 0.01):
        self.bound = float(bound)

    @torch.no_grad()
    def after_d_step(self, discriminator):
        for p in discriminator.parameters():
            p.clamp_(-self.bound, self.bound)
