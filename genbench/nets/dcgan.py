"""DCGAN (Radford et al. 2016), following its guidelines: strided (transposed) convolutions and no
pooling, batch norm in both nets except the generator output and the discriminator input, no hidden
fully connected layers, ReLU in G with a Tanh output, LeakyReLU(0.2) in D, weights from N(0, 0.02).

Sizes adapt: a start of 4x4 (32, 64) or 7x7 (28) doubled k times; channels halve as the size doubles.
"""

from __future__ import annotations

from torch import nn

from genbench.nets.layers import SplitDiscriminator, body, norm2d, size_ladder

DEFAULT_WIDTH = 64


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, shape, z_dim: int, width: int, norm: str):
        super().__init__()
        start, ups = size_ladder(shape, "dcgan")
        channels = width * 2 ** (ups - 1)
        layers = [nn.ConvTranspose2d(z_dim, channels, start, 1, 0, bias=False), norm2d(norm, channels), nn.ReLU(True)]
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                       norm2d(norm, channels // 2), nn.ReLU(True)]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, shape[0], 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _init(self)

    def forward(self, z):
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(SplitDiscriminator):
    def __init__(self, shape, width: int, norm: str):
        super().__init__()
        start, downs = size_ladder(shape, "dcgan")
        layers: list[nn.Module] = [nn.Conv2d(shape[0], width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        channels = width
        for _ in range(downs - 1):
            layers += [nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=norm == "none"),
                       norm2d(norm, channels * 2), nn.LeakyReLU(0.2, True)]
            channels *= 2
        layers.append(nn.Conv2d(channels, 1, start, 1, 0))
        self.net = nn.Sequential(*layers)
        # features: the last start x start map, flattened; the final conv covers it whole (a linear map on it)
        self.final, self.feature_dim = f"net.{len(layers) - 1}", channels * start * start
        self.map_shape = (channels, start, start)
        _init(self)

    def features(self, x):
        return body(self.net, x).flatten(1)

    def head(self, h):
        return self.net[-1](h.view(len(h), *self.map_shape)).flatten()


def build_generator(shape, z_dim, width=None, norm="batch"):
    return DCGANGenerator(shape, z_dim, width or DEFAULT_WIDTH, norm)


def build_discriminator(shape, width=None, norm="batch"):
    return DCGANDiscriminator(shape, width or DEFAULT_WIDTH, norm)
