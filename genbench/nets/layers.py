"""Pieces shared by the families: normalization by name, the size ladder, and `SplitDiscriminator`, the
"features, then head" contract of every discriminator."""

from __future__ import annotations

import itertools
import math

import torch
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


def body(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """`net` without its last layer applied to x: `net[:-1](x)` without building a new Sequential each call."""
    for layer in itertools.islice(net, len(net) - 1):
        x = layer(x)
    return x


class SplitDiscriminator(nn.Module):
    """The "features, then head" contract every discriminator family (mlp, dcgan, resnet32) keeps, so that
    a regularizer's `wrap_discriminator` can put a layer between D's body and its final layer (e.g. minibatch
    discrimination, genbench/regs/minibatch_disc.py) without knowing the family:

    - `features(x)`: everything before the final layer, flattened to shape (N, A);
    - `feature_dim`: that A, an int set at construction;
    - `head(h)`: the family's own final layer on those (N, A) features, giving the (N,) logits;
    - `logits(h)`: the logits D gives for features `h` (`head`, or the replacement below);
    - `final`: the attribute path (for `get_submodule`) of that final layer;
    - `replace_head(module)`: put `module`, mapping (N, A) features to (N, 1) or (N,), in the final layer's
      place (the old final layer and its parameters go); from then on D(x) = module(features(x)).

    `forward(x)` is `head(features(x))`, numerically what the family computed before the split, with the
    same modules and state-dict keys; none of the above adds a parameter or a buffer.
    """

    final: str = ""
    feature_dim: int = 0
    head_replaced: bool = False

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def head(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(x))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """The (N,) logits from features `h`: `head(h)`, or the replacement's output once the head was
        replaced. A caller that also reads the features (InfoGAN's Q head) shares one body pass this way."""
        if self.head_replaced:
            return self.get_submodule(self.final)(h).reshape(len(h))
        return self.head(h)

    def final_layer(self) -> nn.Module:
        return self.get_submodule(self.final)

    def replace_head(self, module: nn.Module) -> None:
        parent, _, name = self.final.rpartition(".")
        setattr(self.get_submodule(parent) if parent else self, name, module)
        self.head_replaced = True
