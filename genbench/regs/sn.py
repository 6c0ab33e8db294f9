"""Spectral normalization (Miyato et al. 2018): every linear and convolutional weight of D divided by
its largest singular value, estimated by power iteration (torch's parametrization)."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genbench.regs.base import Regularizer

LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Conv1d)


class SpectralNorm(Regularizer):
    name = "sn"

    def __init__(self, n_power_iterations: int = 1):
        self.n_power_iterations = int(n_power_iterations)

    def wrap_discriminator(self, discriminator: nn.Module) -> nn.Module:
        for module in list(discriminator.modules()):
            if isinstance(module, LAYERS) and not hasattr(module, "parametrizations"):
                spectral_norm(module, n_power_iterations=self.n_power_iterations)
        return discriminator
