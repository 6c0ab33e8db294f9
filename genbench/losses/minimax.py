"""The minimax GAN loss (Goodfellow et al. 2014) on logits:
D maximizes log D(x) + log(1 - D(G(z))); G minimizes log(1 - D(G(z))), which saturates when D wins."""

import torch
from torch.nn import functional as F

from genbench.losses import wide


class MinimaxLoss:
    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        # -log sigmoid(r) = softplus(-r);  -log(1 - sigmoid(f)) = softplus(f)
        return F.softplus(-wide(real)).mean() + F.softplus(wide(fake)).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -F.softplus(wide(fake)).mean()  # log(1 - sigmoid(f))
