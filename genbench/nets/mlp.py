"""Multilayer perceptrons for 2D/vector data: 3 hidden ReLU (G) / LeakyReLU (D) layers, no normalization."""

from __future__ import annotations

import math

from torch import nn

from genbench.nets.layers import SplitDiscriminator, body

DEFAULT_WIDTH = 128


def _mlp(sizes: list[int], act: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act)
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Outputs samples of the data's shape (images too: the regularizers mixing real and fake need it)."""

    def __init__(self, z_dim: int, shape: tuple[int, ...], width: int):
        super().__init__()
        self.shape = tuple(shape)
        self.net = _mlp([z_dim, width, width, width, math.prod(self.shape)], nn.ReLU())

    def forward(self, z):
        return self.net(z).view(len(z), *self.shape)


class MLPDiscriminator(SplitDiscriminator):
    def __init__(self, in_dim: int, width: int):
        super().__init__()
        self.net = _mlp([in_dim, width, width, width, 1], nn.LeakyReLU(0.2))
        self.final, self.feature_dim = f"net.{len(self.net) - 1}", width  # features: the last hidden activations

    def features(self, x):
        return body(self.net, x.flatten(1))

    def head(self, h):
        return self.net[-1](h).squeeze(1)


def build_generator(shape, z_dim, width=None, norm=None):
    return MLPGenerator(z_dim, shape, width or DEFAULT_WIDTH)


def build_discriminator(shape, width=None, norm=None):
    return MLPDiscriminator(math.prod(shape), width or DEFAULT_WIDTH)
