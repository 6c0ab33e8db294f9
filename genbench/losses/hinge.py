"""The hinge loss (Lim & Ye 2017; Miyato et al. 2018): D minimizes E[relu(1 - D(x))] + E[relu(1 + D(G(z)))];
G minimizes -E[D(G(z))]."""

import torch
from torch.nn import functional as F

from genbench.losses import wide


class HingeLoss:
    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - wide(real)).mean() + F.relu(1 + wide(fake)).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -wide(fake).mean()
