"""A labelled, clearly synthetic stand-in with an image dataset's shape, generated from the seed.

Why: the paper tables' smoke variants must run where the real data is absent (CIFAR-10 cannot be downloaded
here). A stand-in of the same shape, dtype and number of classes runs the same networks, metrics and
classifier features end to end. Its numbers say nothing about CIFAR-10: metrics.json names the dataset
`<name>_standin` and genbench-table flags it.

Class k is a soft disc of colour k at one of ten places, with random jitter of place, size and brightness on a
random dark background, plus pixel noise.
"""

from __future__ import annotations

import math

import torch


class ImageStandIn:
    is_image = True

    def __init__(self, name: str = "cifar10_standin", image_size: int = 32, channels: int = 3, classes: int = 10,
                 n_train: int = 5000, n_test: int = 1000, seed: int = 0):
        self.name, self.image_size, self.channels, self.classes = name, image_size, channels, classes
        self.n = {"train": int(n_train), "test": int(n_test)}
        self.seed = int(seed)
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def _make(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split not in self.n:
            raise ValueError(f"{self.name} has the splits train and test, not {split!r}")
        if split not in self._cache:
            gen = torch.Generator().manual_seed(self.seed * 2 + (split != "train"))
            n, size, k = self.n[split], self.image_size, self.classes
            labels = torch.randint(k, (n,), generator=gen)
            angle = 2 * math.pi * torch.arange(k) / k
            centres = size / 2 + size / 4 * torch.stack([angle.cos(), angle.sin()], 1)       # [k, 2]
            hue = torch.arange(k) / k
            colours = 0.5 + 0.5 * torch.stack([(2 * math.pi * (hue + s)).cos() for s in (0, 1 / 3, 2 / 3)], 1)
            colours = colours[:, : self.channels] if self.channels <= 3 else colours.repeat(1, 2)[:, : self.channels]
            centre = centres[labels] + torch.randn(n, 2, generator=gen) * size / 16
            radius = size / 8 * (1 + torch.rand(n, 1, 1, generator=gen))
            ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
            dist = ((xs - centre[:, 0, None, None]) ** 2 + (ys - centre[:, 1, None, None]) ** 2).sqrt()
            disc = torch.sigmoid((radius - dist) / 1.5)[:, None]                             # [n, 1, H, W]
            background = 0.3 * torch.rand(n, self.channels, 1, 1, generator=gen)
            colour = colours[labels][:, :, None, None] * (0.7 + 0.3 * torch.rand(n, 1, 1, 1, generator=gen))
            images = background + (colour - background) * disc
            images = images + 0.03 * torch.randn(images.shape, generator=gen)
            self._cache[split] = ((images.clamp(0, 1) * 255).round().to(torch.uint8), labels)
        return self._cache[split]

    def load(self, split: str = "train") -> torch.Tensor:
        return self._make(split)[0]

    def labels(self, split: str = "train") -> torch.Tensor:
        return self._make(split)[1]

    def __repr__(self) -> str:
        return f"{self.name} (synthetic stand-in {self.shape}, {self.classes} classes; not real data)"
