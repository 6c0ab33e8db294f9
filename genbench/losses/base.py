"""The GAN loss contract: D's objective on its logits for a real and a fake batch, G's on the fake batch's
(lower is better for each player). Other families' objectives are callables (VAE: on the bounds' Terms; EBM: on
two batches' energies), marked by `family:` in their YAML."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class GANLoss(Protocol):
    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor: ...

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor: ...
