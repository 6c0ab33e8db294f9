"""MNIST and Fashion-MNIST, read straight from their official gzip IDX files.

Why: the two datasets share one file format and layout (only the files' md5s and URLs differ), so
one small base class reads both without torchvision, keeping a whole split in one uint8 tensor.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from genbench.data.download import DataUnavailableError, RemoteFile, ensure_files
from genbench.data.files import FileImages
from genbench.data.transforms import prepare_images

# IDX type codes (third magic byte) -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a native-endian numpy array of its shape.

    Layout: two zero bytes, a type code, the number of dimensions, one big-endian uint32 per dimension,
    then the values in C order.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise DataUnavailableError(f"Cannot read the IDX file {path}: {err}") from err
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataUnavailableError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4)) if ndim else ()
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataUnavailableError(
            f"{path} is truncated or damaged: {len(data)} bytes, but its header {dims} implies {expected}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)  # writable and native-endian


class _IdxDataset(FileImages):
    """Shared reader: ``files`` maps a split to its (images, labels) file names; subclasses set the rest."""

    name: ClassVar[str]
    folder: ClassVar[str]
    md5s: ClassVar[dict[str, str]]
    mirrors: ClassVar[tuple[str, ...]]
    files: ClassVar[dict[str, tuple[str, str]]] = {
        "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }
    default_size, default_channels = 28, 1

    def _remote(self, name: str) -> RemoteFile:
        return RemoteFile(name, self.md5s[name], tuple(base + name for base in self.mirrors))

    def _paths(self, split: str) -> tuple[Path, Path]:
        """Check (and fetch if allowed) the split's two files; return their paths."""
        if split not in self.files:
            raise ValueError(f"{self.name} has the splits {sorted(self.files)}, not {split!r}")
        names = self.files[split]
        ensure_files(
            self.root,
            [self._remote(n) for n in names],
            self.name,
            download=self.download,
            timeout=self.timeout,
            verify=self.verify,
            subfolder=self.folder,
        )
        return self.root / names[0], self.root / names[1]

    def load(self, split: str = "train") -> torch.Tensor:
        """The whole split as uint8 [N, channels, image_size, image_size]."""
        images_path, _ = self._paths(split)
        images = read_idx(images_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataUnavailableError(f"{images_path} holds {images.dtype} {images.shape}, not uint8 images")
        return self.binarized(prepare_images(torch.from_numpy(images).unsqueeze(1), self.image_size, self.channels),
                              split)

    def labels(self, split: str = "train") -> torch.Tensor:
        """The split's class labels (0-9) as int64 [N]."""
        _, labels_path = self._paths(split)
        labels = read_idx(labels_path)
        if labels.ndim != 1:
            raise DataUnavailableError(f"{labels_path} holds an array of shape {labels.shape}, not labels")
        return torch.from_numpy(labels.astype(np.int64))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, shape={self.shape})"


class MNIST(_IdxDataset):
    """LeCun et al.'s handwritten digits: 60000 train and 10000 test grey 28x28 images."""

    name = "MNIST"
    folder = "mnist"
    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
    md5s = {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }


class FashionMNIST(_IdxDataset):
    """Zalando's clothing images in MNIST's format: 60000 train and 10000 test grey 28x28 images."""

    name = "Fashion-MNIST"
    folder = "fashion_mnist"
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    md5s = {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
