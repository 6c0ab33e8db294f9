"""Pieces shared by the convolutional families: normalization by name and the size ladder."""

from __future__ import annotations

import math

from torch import nn

from genbench.errors import ConfigError

NORMS = ("batch", "layer", "none")


def norm2d(kind: str, channels: int) -> nn.Module:
    """BatchNorm, LayerNorm over (C, H, W) as GroupNorm(1, C) (WGAN-GP's choice for critics), or none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind in ("none", None):
        return nn.Identity()
    raise ConfigError(f"normalization {kind!r} is unknown; choose one of {', '.join(NORMS)}")


def size_ladder(shape: tuple[int, ...], family: str) -> tuple[int, int]:
    """(start size, number of x2 upsamplings) for a square image: size = start * 2**k with start 4 or 7.

    28 = 7 * 4 (MNIST), 32 = 4 * 8 (CIFAR), 64 = 4 * 16 (CelebA) all fit; 30 does not.
    """
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(f"model.nets.image={family} needs square images (C, H, H); got {tuple(shape)}")
    size = shape[1]
    for start in (4, 7):
        k = math.log2(size / start)
        if k >= 1 and k == int(k):
            return start, int(k)
    raise ConfigError(f"dataset.image_size={size} is not supported by model.nets.image={family}: "
                      "use 28, 32 or 64 (any 4*2^k or 7*2^k)")
