"""The constructor and shape shared by the in-memory image datasets read from official files (IDX, CIFAR).

Constructors only record the options: files are checked and read in `load`, so a bad config fails
there with a clear message, before any network is built."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from genbench.data.transforms import check_geometry


class FileImages:
    is_image: ClassVar[bool] = True
    default_size: ClassVar[int]
    default_channels: ClassVar[int]

    def __init__(self, root: str, image_size: int | None = None, channels: int | None = None,
                 download: bool = True, verify: bool = True, timeout: float = 15.0, **unused):
        self.image_size = image_size or self.default_size
        self.channels = channels or self.default_channels
        check_geometry(self.image_size, self.channels)
        self.root = Path(root).expanduser()
        self.download, self.verify, self.timeout = download, verify, timeout
        self._labels: dict[str, torch.Tensor] = {}

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)
