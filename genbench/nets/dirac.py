"""The Dirac-GAN's two players (Mescheder et al. 2018): G(z) = theta, a Dirac at theta whatever z is,
and the linear discriminator D(x) = psi * x, no bias. One scalar parameter each; `theta0` and `psi0`
(model.theta0, model.psi0 through model.nets.init) are the start point."""

from __future__ import annotations

import torch
from torch import nn


class DiracGenerator(nn.Module):
    def __init__(self, theta0: float = 1.0):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([float(theta0)]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.theta.expand(z.shape[0], 1)


class DiracDiscriminator(nn.Module):
    def __init__(self, psi0: float = 1.0):
        super().__init__()
        self.psi = nn.Parameter(torch.tensor([float(psi0)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.psi * x.flatten(1).sum(1)


def _check(shape) -> None:
    if tuple(shape) != (1,):
        raise ValueError(f"the dirac networks take one-dimensional data (dataset=dirac), not shape {tuple(shape)}")


def build_generator(shape, z_dim, width=None, norm=None, theta0: float = 1.0, **unused) -> nn.Module:
    _check(shape)
    return DiracGenerator(theta0)


def build_discriminator(shape, width=None, norm=None, psi0: float = 1.0, **unused) -> nn.Module:
    _check(shape)
    return DiracDiscriminator(psi0)
