"""The constructor and shape shared by the in-memory image datasets read from official files (IDX, CIFAR).

Constructors only record the options: files are checked and read in `load`, so a bad config fails
there with a clear message, before any network is built."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import ClassVar

import torch

from genbench.data.transforms import check_geometry


class FileImages:
    is_image: ClassVar[bool] = True
    default_size: ClassVar[int]
    default_channels: ClassVar[int]

    def __init__(self, root: str, image_size: int | None = None, channels: int | None = None,
                 download: bool = True, verify: bool = True, timeout: float = 15.0, binarize: str | None = None):
        self.image_size = image_size or self.default_size
        self.channels = channels or self.default_channels
        check_geometry(self.image_size, self.channels)
        if binarize not in (None, "static"):
            raise ValueError(f"binarize={binarize!r}: choose static or null")
        self.root = Path(root).expanduser()
        self.download, self.verify, self.timeout = download, verify, timeout
        self.binarize = binarize
        self._labels: dict[str, torch.Tensor] = {}

    def binarized(self, images: torch.Tensor, split: str) -> torch.Tensor:
        """`binarize=static`: one Bernoulli(pixel / 255) draw per pixel, 0 or 255, from a generator seeded by the
        split's name alone, so every run and every evaluation sees the same binary images (static binarization,
        as in Larochelle & Murray's binarized MNIST, here drawn from the official files). Otherwise unchanged."""
        if self.binarize != "static":
            return images
        generator = torch.Generator().manual_seed(zlib.crc32(split.encode()))
        out = torch.empty_like(images)
        for src, dst in zip(images.split(4096), out.split(4096), strict=True):  # bounded float memory
            dst.copy_(torch.bernoulli(src.float().div_(255.0), generator=generator).mul_(255.0))
        return out

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)
