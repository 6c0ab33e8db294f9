"""The Wasserstein loss (Arjovsky et al. 2017): the critic maximizes E[D(x)] - E[D(G(z))]; needs a
Lipschitz constraint (reg=clip, gp or sn) to be a distance estimate."""

import torch

from genbench.losses import wide


class WassersteinLoss:
    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return wide(fake).mean() - wide(real).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -wide(fake).mean()
