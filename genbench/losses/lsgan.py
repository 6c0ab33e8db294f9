"""The least-squares loss (Mao et al. 2017) with the a-b-c = 0-1-1 coding:
D minimizes 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]; G minimizes 1/2 E[(D(G(z)) - 1)^2]."""

import torch

from genbench.losses import wide


class LeastSquaresLoss:
    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * (wide(real) - 1).pow(2).mean() + 0.5 * wide(fake).pow(2).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * (wide(fake) - 1).pow(2).mean()
