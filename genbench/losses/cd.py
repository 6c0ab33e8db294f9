"""The energy-based model's objective (model=ebm): the seed's log-likelihood gradient (1.2.2, eq. 1.28) as a loss,
E(x+).mean() - E(x-).mean() over data x+ and model samples x- (the Langevin chains' ends), plus
alpha * (E(x+)^2 + E(x-)^2).mean(), the energy-magnitude penalty of Du & Mordatch 2019 that keeps E from drifting
(the contrastive term alone is unchanged by adding a constant to E)."""

from __future__ import annotations

import torch

from genbench.losses import wide


class ContrastiveDivergence:
    def __init__(self, alpha: float = 0.0, family: str = "ebm"):
        # family: the model family this objective trains (the config checks compare it with model.family)
        self.alpha = float(alpha)

    def __call__(self, e_real: torch.Tensor, e_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, contrastive term, energy-magnitude penalty) on the energies of a data and a model batch."""
        e_real, e_fake = wide(e_real), wide(e_fake)
        contrast = e_real.mean() - e_fake.mean()
        penalty = (e_real.square() + e_fake.square()).mean()
        return contrast + self.alpha * penalty, contrast.detach(), penalty.detach()
