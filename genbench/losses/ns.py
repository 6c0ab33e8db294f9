"""The non-saturating GAN loss (Goodfellow et al. 2014): D as in the minimax game; G maximizes
log D(G(z)) instead, which keeps gradients alive early in training."""

import torch
from torch.nn import functional as F

from genbench.losses import wide
from genbench.losses.minimax import MinimaxLoss


class NonSaturatingLoss(MinimaxLoss):
    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-wide(fake)).mean()  # -log sigmoid(f)
