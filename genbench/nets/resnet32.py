"""The SNGAN ResNet for 32x32 images (Miyato et al. 2018, appendix; as in mimicry's CIFAR-10 baseline):
G: linear to 4x4x256, three up-sampling residual blocks, BN-ReLU-conv3x3-tanh.
D: an optimized down block, a down block, two plain blocks (128 channels), ReLU, global sum, linear.

Other sizes keep the blocks and change the ladder: 28 starts at 7x7 with two up blocks, 64 adds one.
"""

from __future__ import annotations

import math

from torch import nn
from torch.nn import functional as F

from genbench.nets.layers import SplitDiscriminator, norm2d, size_ladder

DEFAULT_WIDTH = 256  # generator channels; the discriminator uses half


def _xavier(module: nn.Module, gain: float) -> None:
    nn.init.xavier_uniform_(module.weight, gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, norm: str):
        super().__init__()
        self.n1, self.c1 = norm2d(norm, cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.n2, self.c2 = norm2d(norm, cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.sc = nn.Conv2d(cin, cout, 1)
        for conv in (self.c1, self.c2):
            _xavier(conv, math.sqrt(2))
        _xavier(self.sc, 1.0)

    def forward(self, x):
        h = F.interpolate(F.relu(self.n1(x)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(self.n2(self.c1(h))))
        return h + self.sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, first: bool = False, norm: str = "none"):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.n1 = nn.Identity() if first else norm2d(norm, cin)  # SNGAN's D has none (d_norm=none)
        self.n2 = norm2d(norm, cout)
        self.sc = nn.Conv2d(cin, cout, 1) if (cin != cout or down) else None
        self.down, self.first = down, first
        for conv in (self.c1, self.c2):
            _xavier(conv, math.sqrt(2))
        if self.sc is not None:
            _xavier(self.sc, 1.0)

    def forward(self, x):
        h = x if self.first else F.relu(self.n1(x))
        h = self.c2(F.relu(self.n2(self.c1(h))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:  # SNGAN's optimized block: pool, then 1x1 conv
            s = self.sc(F.avg_pool2d(s, 2))
        elif self.sc is not None:
            s = self.sc(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class ResNetGenerator(nn.Module):
    def __init__(self, shape, z_dim: int, width: int, norm: str):
        super().__init__()
        self.start, ups = size_ladder(shape, "resnet32")
        self.width = width
        self.linear = nn.Linear(z_dim, self.start * self.start * width)
        _xavier(self.linear, 1.0)
        self.blocks = nn.Sequential(*[GBlock(width, width, norm) for _ in range(ups)])
        self.out_norm = norm2d(norm, width)
        self.out = nn.Conv2d(width, shape[0], 3, 1, 1)
        _xavier(self.out, 1.0)

    def forward(self, z):
        h = self.linear(z).view(len(z), self.width, self.start, self.start)
        return self.out(F.relu(self.out_norm(self.blocks(h)))).tanh()


class ResNetDiscriminator(SplitDiscriminator):
    def __init__(self, shape, width: int, norm: str):
        super().__init__()
        _, ups = size_ladder(shape, "resnet32")
        downs = max(ups - 1, 1)
        blocks = [DBlock(shape[0], width, down=True, first=True, norm=norm)]
        blocks += [DBlock(width, width, down=True, norm=norm) for _ in range(downs - 1)]
        blocks += [DBlock(width, width, down=False, norm=norm) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(width, 1)
        _xavier(self.linear, 1.0)
        self.final, self.feature_dim = "linear", width  # features: ReLU, then the global sum

    def features(self, x):
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def head(self, h):
        return self.linear(h).squeeze(1)


def build_generator(shape, z_dim, width=None, norm="batch"):
    return ResNetGenerator(shape, z_dim, width or DEFAULT_WIDTH, norm)


def build_discriminator(shape, width=None, norm="none"):
    return ResNetDiscriminator(shape, (width or DEFAULT_WIDTH) // 2, norm)
