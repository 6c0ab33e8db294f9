"""A labelled, clearly synthetic stand-in with an image dataset's shape, generated from the seed.

Why: the paper tables' smoke variants must run where the real data is absent (CIFAR-10 cannot be downloaded
here). A stand-in of the same shape, dtype and number of classes runs the same networks, metrics and
classifier features end to end. Its numbers say nothing about CIFAR-10: metrics.json names the dataset
`<name>_standin` and genbench-table flags it.

Class k is a soft disc of colour k at one of ten places, with random jitter of place, size and brightness on a
random dark background, plus pixel noise.
"""

from __future__ import annotations

import functools
import math

import torch


class ImageStandIn:
    is_image = True

    def __init__(self, name: str = "cifar10_standin", image_size: int = 32, channels: int = 3, classes: int = 10,
                 n_train: int = 5000, n_test: int = 1000, seed: int = 0):
        self.name, self.image_size, self.channels, self.classes = name, image_size, channels, classes
        self.n = {"train": int(n_train), "test": int(n_test)}
        self.seed = int(seed)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def _make(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split not in self.n:
            raise ValueError(f"{self.name} has the splits train and test, not {split!r}")
        return _generate(self.image_size, self.channels, self.classes, self.n[split],
                         self.seed * 2 + (split != "train"))

    def load(self, split: str = "train") -> torch.Tensor:
        return self._make(split)[0]

    def labels(self, split: str = "train") -> torch.Tensor:
        return self._make(split)[1]

    def __repr__(self) -> str:
        return f"{self.name} (synthetic stand-in {self.shape}, {self.classes} classes; not real data)"


@functools.lru_cache(maxsize=4)
def _generate(size: int, channels: int, classes: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images, labels) of one split. Cached in the process: a sweep's jobs (one process under Hydra's
    basic launcher) would otherwise generate the same split again, ~0.6 s for CIFAR-10's shape; nothing writes
    into the tensors (the datasets hand the same ones out every call)."""
    gen = torch.Generator().manual_seed(seed)
    k = classes
    labels = torch.randint(k, (n,), generator=gen)
    angle = 2 * math.pi * torch.arange(k) / k
    centres = size / 2 + size / 4 * torch.stack([angle.cos(), angle.sin()], 1)       # [k, 2]
    hue = torch.arange(k) / k
    colours = 0.5 + 0.5 * torch.stack([(2 * math.pi * (hue + s)).cos() for s in (0, 1 / 3, 2 / 3)], 1)
    colours = colours[:, :channels] if channels <= 3 else colours.repeat(1, 2)[:, :channels]
    centre = centres[labels] + torch.randn(n, 2, generator=gen) * size / 16
    radius = size / 8 * (1 + torch.rand(n, 1, 1, generator=gen))
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    dist = ((xs - centre[:, 0, None, None]) ** 2 + (ys - centre[:, 1, None, None]) ** 2).sqrt()
    disc = torch.sigmoid((radius - dist) / 1.5)[:, None]                             # [n, 1, H, W]
    background = 0.3 * torch.rand(n, channels, 1, 1, generator=gen)
    colour = colours[labels][:, :, None, None] * (0.7 + 0.3 * torch.rand(n, 1, 1, 1, generator=gen))
    images = background + (colour - background) * disc
    images = images + 0.03 * torch.randn(images.shape, generator=gen)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels
