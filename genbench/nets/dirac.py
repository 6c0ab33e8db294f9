"""The Dirac-GAN's two players (Mescheder et al. 2018): G(z) = theta, a Dirac at theta whatever z is,
and the linear discriminator D(x) = psi * x, no bias. One scalar parameter each; `theta0` and `psi0`
(model.theta0, model.psi0 through model.nets.init) are the start point.

psi is the paper's psi. The paper's D is positive on generated data (L = f(D(G(z))) + f(-D(x)), f(t) =
-log(1 + exp(-t))); every genbench loss reads its discriminator's output as positive on real data, so the
network returns -psi * x, the paper's D in genbench's sign. Parameters, trajectory.csv, phase portraits and
the Jacobian are then all in the paper's coordinates, and (1, 1) is the paper's start point.

Both parameters are float64 (the Dirac data too, genbench/analysis/dirac/data.py), as in the notebook's numpy:
a trajectory then equals the paper's update rule to ~1e-12 instead of float32's ~1e-4 after 500 steps."""

from __future__ import annotations

import torch
from torch import nn


class DiracGenerator(nn.Module):
    def __init__(self, theta0: float = 1.0):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([float(theta0)], dtype=torch.float64))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.theta.expand(z.shape[0], 1)


class DiracDiscriminator(nn.Module):
    def __init__(self, psi0: float = 1.0):
        super().__init__()
        self.psi = nn.Parameter(torch.tensor([float(psi0)], dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.psi * x.flatten(1).sum(1)  # the paper's psi * x, sign flipped to genbench's (module docstring)


def _check(shape) -> None:
    if tuple(shape) != (1,):
        raise ValueError(f"the dirac networks take one-dimensional data (dataset=dirac), not shape {tuple(shape)}")


def build_generator(shape, z_dim, width=None, norm=None, theta0: float = 1.0, **unused) -> nn.Module:
    _check(shape)
    return DiracGenerator(theta0)


def build_discriminator(shape, width=None, norm=None, psi0: float = 1.0, **unused) -> nn.Module:
    _check(shape)
    return DiracDiscriminator(psi0)
