"""Any folder of images (CelebA, LSUN exports, your own photos) as a lazily decoded Dataset.

Why: such folders are too big to decode into memory up front, so images are read with PIL one by
one in DataLoader workers; listing is sorted so that the train/test split and the order are the
same on every machine.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from genbench.data.download import ENV_VAR, DataUnavailableError
from genbench.data.transforms import check_geometry

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
TEST_FRACTION = 0.1
_BICUBIC = getattr(Image, "Resampling", Image).BICUBIC


def list_images(root: Path) -> list[Path]:
    """Every image below ``root`` (symlinks followed), sorted by relative path for a fixed order."""
    found = []
    for folder, subfolders, names in os.walk(root, followlinks=True):
        subfolders.sort()
        found += [Path(folder, n) for n in names if os.path.splitext(n)[1].lower() in EXTENSIONS]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


class ImageFolder(Dataset):
    """Images below ``root`` as uint8 tensors [channels, image_size, image_size].

    Each image is converted to RGB (``channels=3``) or grey (``channels=1``), centre-cropped to a
    ``crop`` x ``crop`` square (CelebA users pass 140 or 178; without ``crop``, or when ``crop`` exceeds
    the shorter side, the largest centred square is taken, so images are never stretched), then resized
    to ``image_size`` with PIL's antialiased bicubic filter.

    Splits: the sorted file list's last 10% is "test", the rest is "train". ``load(split)`` returns
    a copy of this reader restricted to that split; the reader itself, before ``load``, serves "train".
    """

    is_image: ClassVar[bool] = True
    name: ClassVar[str] = "ImageFolder"

    def __init__(
        self,
        root: str,
        image_size: int = 64,
        channels: int = 3,
        download: bool = True,
        crop: int | None = None,
    ):
        check_geometry(image_size, channels)
        if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
            raise ValueError(f"crop must be a positive number of pixels or None, got {crop!r}")
        self.root = Path(root).expanduser()
        self.image_size = image_size
        self.channels = channels
        self.crop = crop
        self._all: list[Path] | None = None  # the listing, shared by the split copies
        self._files: list[Path] | None = None
        self.split = "train"

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def _listing(self) -> list[Path]:
        if self._all is None:
            hint = (
                f"Accepted extensions: {', '.join(EXTENSIONS)} (searched recursively). Point the reader "
                f"at your folder with dataset.root=<dir>, or set {ENV_VAR} to a folder holding one "
                f"subfolder per dataset."
            )
            if not self.root.is_dir():
                raise DataUnavailableError(f"ImageFolder: the folder {self.root} does not exist. {hint}")
            files = list_images(self.root)
            if not files:
                raise DataUnavailableError(f"ImageFolder: the folder {self.root} holds no images. {hint}")
            self._all = files
        return self._all

    def split_files(self, split: str = "train") -> list[Path]:
        """The sorted files of a split: "test" is the last 10% of the listing, "train" the rest."""
        if split not in ("train", "test"):
            raise ValueError(f"ImageFolder has the splits ['test', 'train'], not {split!r}")
        files = self._listing()
        n_test = int(len(files) * TEST_FRACTION)
        chosen = files[len(files) - n_test :] if split == "test" else files[: len(files) - n_test]
        if not chosen:
            raise DataUnavailableError(
                f"ImageFolder: the folder {self.root} holds only {len(files)} images, too few for a "
                f"{split!r} split (the last {TEST_FRACTION:.0%} of the sorted files is the test split)."
            )
        return chosen

    def load(self, split: str = "train") -> ImageFolder:
        """This reader restricted to ``split`` (a Dataset; images are decoded when indexed)."""
        files = self.split_files(split)  # lists the folder once; the copy shares the listing
        view = copy.copy(self)
        view._files, view.split = files, split
        return view

    @property
    def files(self) -> list[Path]:
        if self._files is None:
            self._files = self.split_files(self.split)
        return self._files

    def labels(self, split: str = "train") -> None:
        """Folders of images carry no labels."""
        return None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        path = self.files[index]
        try:
            with Image.open(path) as img:
                img = img.convert("RGB" if self.channels == 3 else "L")
        except OSError as err:
            raise DataUnavailableError(f"ImageFolder: cannot read the image {path}: {err}") from err
        side = min(img.size) if self.crop is None else min(self.crop, *img.size)
        left = int(round((img.width - side) / 2))
        top = int(round((img.height - side) / 2))
        img = img.crop((left, top, left + side, top + side))
        if side != self.image_size:
            img = img.resize((self.image_size, self.image_size), _BICUBIC)
        array = np.array(img, dtype=np.uint8)
        tensor = torch.from_numpy(array)
        return tensor.unsqueeze(0) if array.ndim == 2 else tensor.permute(2, 0, 1).contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, shape={self.shape}, crop={self.crop})"
