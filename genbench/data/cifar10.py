"""CIFAR-10 from its official "python version" pickles, without torchvision.

Why: CIFAR-10 is distributed as one archive of pickled batches; this reader finds the batches in the
dataset folder (flat, or in torchvision's ``cifar-10-batches-py/`` layout), fetches and unpacks the
archive when allowed, and returns a whole split as one uint8 tensor.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from genbench.data.download import (
    DataUnavailableError,
    RemoteFile,
    check_md5,
    ensure_files,
    extract_tar_gz,
    unavailable_error,
)
from genbench.data.files import FileImages
from genbench.data.transforms import prepare_images

ARCHIVE = RemoteFile(
    "cifar-10-python.tar.gz",
    "c58f30108f718f92721af3b95e74349a",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
)
SUBDIR = "cifar-10-batches-py"
BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
SPLITS = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}

# The only globals a CIFAR batch pickle needs (numpy arrays, from Python 2 or 3 writers). Anything
# else in a file found on disk is refused rather than executed.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR-10 batch")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (uint8 images [N, 3, 32, 32] in CHW order, int64 labels [N])."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch.get(b"data", batch.get("data")))
        labels = np.asarray(batch.get(b"labels", batch.get("labels")), dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, TypeError, ValueError) as err:
        raise DataUnavailableError(f"Cannot read the CIFAR-10 batch {path}: {err}") from err
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3 * 32 * 32
        or labels.shape != data.shape[:1]
    ):
        raise DataUnavailableError(
            f"{path} is not a CIFAR-10 python batch: data {data.dtype} {data.shape}, labels {labels.shape}"
        )
    return data.reshape(-1, 3, 32, 32), labels


class CIFAR10(FileImages):
    """Krizhevsky's 32x32 colour images in 10 classes: 50000 train (5 batches) and 10000 test.

    ``verify=False`` skips the md5 checks of the batch files (for home-made or test batches).
    """

    name: ClassVar[str] = "CIFAR-10"
    folder: ClassVar[str] = "cifar10"
    archive: ClassVar[RemoteFile] = ARCHIVE
    default_size, default_channels = 32, 3

    def _find(self, names: tuple[str, ...]) -> Path | None:
        for folder in (self.root / SUBDIR, self.root):
            if all((folder / n).is_file() for n in names):
                return folder
        return None

    def _batch_folder(self, split: str) -> Path:
        """The folder holding the split's batches, unpacking the official archive there first if needed."""
        if split not in SPLITS:
            raise ValueError(f"{self.name} has the splits {sorted(SPLITS)}, not {split!r}")
        names = SPLITS[split]
        folder = self._find(names)
        if folder is None:
            archive = self.root / self.archive.name
            nearest = max(
                (self.root, self.root / SUBDIR), key=lambda d: sum((d / n).is_file() for n in names)
            )
            missing = [n for n in names if not (nearest / n).is_file()]
            extra = (
                f"The files may also sit in {self.root / SUBDIR}, the layout of the official archive "
                f"{self.archive.name}, which is unpacked automatically when it is put in {self.root}."
            )
            if not (self.download or archive.is_file()):
                raise unavailable_error(
                    self.name, self.root, missing, self.archive.urls, subfolder=self.folder, extra=extra
                )
            try:
                ensure_files(
                    self.root,
                    [self.archive],
                    self.name,
                    download=self.download,
                    timeout=self.timeout,
                    subfolder=self.folder,
                )
            except DataUnavailableError as err:
                if archive.is_file():  # the archive itself is damaged: that message is the useful one
                    raise
                raise unavailable_error(
                    self.name,
                    self.root,
                    missing,
                    self.archive.urls,
                    subfolder=self.folder,
                    extra=extra,
                    reason=err.reason,
                ) from err
            extract_tar_gz(archive, self.root)
            folder = self._find(names)
            if folder is None:
                raise DataUnavailableError(
                    f"{archive} was unpacked but {', '.join(names)} are still missing from "
                    f"{self.root / SUBDIR}; the archive is not the official one. Delete it and try again."
                )
        if self.verify:
            for n in names:
                check_md5(folder / n, BATCH_MD5[n])
            if (folder / "batches.meta").is_file():
                check_md5(folder / "batches.meta", BATCH_MD5["batches.meta"])
        return folder

    def _read(self, split: str) -> torch.Tensor:
        folder = self._batch_folder(split)
        parts = [read_batch(folder / n) for n in SPLITS[split]]
        self._labels[split] = torch.from_numpy(np.concatenate([labels for _, labels in parts]))
        return torch.from_numpy(np.concatenate([images for images, _ in parts]))

    def load(self, split: str = "train") -> torch.Tensor:
        """The whole split as uint8 [N, channels, image_size, image_size]."""
        return self.binarized(prepare_images(self._read(split), self.image_size, self.channels), split)

    def labels(self, split: str = "train") -> torch.Tensor:
        """The split's class labels (0-9) as int64 [N]; reads the batches unless ``load`` already did."""
        if split not in self._labels:
            self._read(split)
        return self._labels[split]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, shape={self.shape})"
