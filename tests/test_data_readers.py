"""The real-image readers: official MNIST/Fashion-MNIST files, fake CIFAR-10 batches, image folders,
and the errors that tell a user which files to put where. No test touches the network: downloads
go to a refusing local port or to a local HTTP server."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.data import cifar10 as cifar_module
from genbench.data.cifar10 import CIFAR10
from genbench.data.download import (
    DataUnavailableError,
    RemoteFile,
    ensure_files,
    extract_tar_gz,
    md5sum,
)
from genbench.data.folder import ImageFolder
from genbench.data.idx import MNIST, FashionMNIST, read_idx
from genbench.data.transforms import prepare_images

REFUSING = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused at once
IDX_NAMES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


def shared_data() -> Path:
    env = os.environ.get("GENBENCH_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def official_folder(name: str) -> Path:
    folder = shared_data() / name
    if not all((folder / n).is_file() for n in IDX_NAMES):
        pytest.skip(
            f"the official {name} files are not in {folder} (set GENBENCH_SHARED_DATA to their parent)"
        )
    return folder


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------- MNIST / Fashion-MNIST


@pytest.fixture(scope="module")
def mnist_train():
    reader = MNIST(str(official_folder("mnist")), download=False)
    return reader.load("train"), reader.labels("train")


@pytest.fixture(scope="module")
def fashion_train():
    reader = FashionMNIST(str(official_folder("fashion_mnist")), download=False)
    return reader.load("train"), reader.labels("train")


def test_mnist_train_split(mnist_train):
    images, labels = mnist_train
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    assert labels.min() == 0 and labels.max() == 9
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first digits
    x = images.double() / 255
    assert x.mean().item() == pytest.approx(0.1307, abs=1e-4)
    assert x.std().item() == pytest.approx(0.3081, abs=1e-4)


def test_mnist_test_split_resized_to_rgb_32():
    folder = official_folder("mnist")
    reader = MNIST(str(folder), image_size=32, channels=3, download=False)
    assert reader.shape == (3, 32, 32)
    images, labels = reader.load("test"), reader.labels("test")
    assert images.shape == (10000, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.shape == (10000,) and 0 <= labels.min() and labels.max() <= 9
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    native = MNIST(str(folder), download=False).load("test")
    assert images.float().mean().item() == pytest.approx(native.float().mean().item(), rel=0.02)
    grey32 = MNIST(str(folder), image_size=32, download=False).load("test")
    assert grey32.shape == (10000, 1, 32, 32) and torch.equal(grey32[:, 0], images[:, 0])


def test_fashion_mnist(fashion_train):
    images, labels = fashion_train
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.bincount().tolist() == [6000] * 10  # Fashion-MNIST is exactly balanced
    assert (images.double() / 255).mean().item() == pytest.approx(0.2860, abs=1e-4)
    test = FashionMNIST(str(official_folder("fashion_mnist")), download=False).load("test")
    assert test.shape == (10000, 1, 28, 28)


def test_read_idx_plain_and_typed(tmp_path):
    values = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    header = bytes([0, 0, 0x0C, 3]) + np.array(values.shape, dtype=">u4").tobytes()
    body = values.astype(">i4").tobytes()  # IDX is big-endian
    (tmp_path / "plain.idx").write_bytes(header + body)
    with gzip.open(tmp_path / "packed.idx.gz", "wb") as f:
        f.write(header + body)
    for name in ("plain.idx", "packed.idx.gz"):
        out = read_idx(tmp_path / name)
        assert out.dtype == np.int32 and out.dtype.isnative and out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out, values)
    (tmp_path / "short.idx").write_bytes(header + body[:-4])
    with pytest.raises(DataUnavailableError, match="truncated"):
        read_idx(tmp_path / "short.idx")
    (tmp_path / "junk.idx").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataUnavailableError, match="not an IDX file"):
        read_idx(tmp_path / "junk.idx")


# --------------------------------------------------------------------------- missing / damaged files


def test_constructor_is_cheap_and_missing_files_are_named(tmp_path):
    root = tmp_path / "mnist"
    reader = MNIST(str(root), download=False)  # no file is read here
    with pytest.raises(DataUnavailableError) as info:
        reader.load("train")
    message = str(info.value)
    assert "\n" not in message
    for part in (
        "MNIST",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        str(root),
        "GENBENCH_DATA",
        "$GENBENCH_DATA/mnist",
        "dataset.root=",
        "ossci-datasets.s3.amazonaws.com",
    ):
        assert part in message
    assert not root.exists()  # nothing was created without download


def test_unreachable_download_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(FashionMNIST, "mirrors", (REFUSING,))
    root = tmp_path / "fashion_mnist"
    start = time.monotonic()
    with pytest.raises(DataUnavailableError) as info:
        FashionMNIST(str(root), download=True, timeout=5).load("test")
    assert time.monotonic() - start < 5
    message = str(info.value)
    for part in (
        "Fashion-MNIST",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        str(root),
        "GENBENCH_DATA",
        "download failed",
        "127.0.0.1:9",
    ):
        assert part in message
    assert list(root.iterdir()) == []  # no partial file is left behind


def test_ensure_files_refusing_url(tmp_path):
    files = [RemoteFile("a.bin", "0" * 32, (REFUSING + "x",))]
    start = time.monotonic()
    with pytest.raises(DataUnavailableError, match=r"a\.bin.*GENBENCH_DATA"):
        ensure_files(tmp_path, files, "Toy", download=True, timeout=5)
    assert time.monotonic() - start < 5


def test_wrong_md5_is_reported(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not the official file")
    with pytest.raises(DataUnavailableError) as info:
        MNIST(str(tmp_path), download=False).load("train")
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in message and md5_of(b"not the official file") in message
    assert "Delete" in message


@pytest.fixture
def http_folder(tmp_path):
    """A local HTTP server over tmp_path/www, for the download path without the internet."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_verifies_and_renames(tmp_path, http_folder):
    www, url = http_folder
    (www / "good.bin").write_bytes(b"payload")
    (www / "bad.bin").write_bytes(b"tampered")
    root = tmp_path / "data"
    # The first URL refuses, the second works: mirrors are tried in order.
    ensure_files(
        root,
        [RemoteFile("good.bin", md5_of(b"payload"), (REFUSING + "good.bin", url + "good.bin"))],
        "Toy",
        timeout=5,
    )
    assert (root / "good.bin").read_bytes() == b"payload"
    with pytest.raises(DataUnavailableError, match="md5"):
        ensure_files(root, [RemoteFile("bad.bin", md5_of(b"payload"), (url + "bad.bin",))], "Toy", timeout=5)
    assert sorted(p.name for p in root.iterdir()) == ["good.bin"]  # no bad or .part file kept
    assert md5sum(root / "good.bin") == md5_of(b"payload")


# --------------------------------------------------------------------------- CIFAR-10 (fake batches)

PER_BATCH = 7


def fake_batch(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"fake batch %d" % seed,
        b"labels": rng.integers(0, 10, PER_BATCH).tolist(),
        b"data": rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8),
        b"filenames": [b"img_%d.png" % i for i in range(PER_BATCH)],
    }


def write_cifar(folder: Path) -> dict[str, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    batches = {f"data_batch_{i}": fake_batch(i) for i in range(1, 6)} | {"test_batch": fake_batch(99)}
    for name, batch in batches.items():  # protocol 2 as in the official files; one in today's default
        protocol = pickle.DEFAULT_PROTOCOL if name == "test_batch" else 2
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    meta = {
        b"num_cases_per_batch": PER_BATCH,
        b"label_names": [b"c%d" % i for i in range(10)],
        b"num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_cifar_pixels_in_chw_order(tmp_path, layout):
    batches = write_cifar(tmp_path if layout == "flat" else tmp_path / "cifar-10-batches-py")
    reader = CIFAR10(str(tmp_path), download=False, verify=False)
    assert reader.shape == (3, 32, 32)
    train = reader.load("train")
    assert train.shape == (5 * PER_BATCH, 3, 32, 32) and train.dtype == torch.uint8
    rows = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    for n, c, h, w in [(0, 0, 0, 0), (3, 1, 5, 7), (34, 2, 31, 30), (12, 2, 0, 31)]:
        assert train[n, c, h, w].item() == rows[n, c * 1024 + h * 32 + w]
    assert torch.equal(train.reshape(len(train), -1), torch.from_numpy(rows))
    labels = reader.labels("train")
    assert labels.dtype == torch.int64
    assert labels.tolist() == sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    test = reader.load("test")
    assert torch.equal(test.reshape(PER_BATCH, -1), torch.from_numpy(batches["test_batch"][b"data"]))
    assert reader.labels("test").tolist() == batches["test_batch"][b"labels"]


def test_cifar_grey_and_resize(tmp_path):
    batches = write_cifar(tmp_path)
    grey = CIFAR10(str(tmp_path), image_size=64, channels=1, download=False, verify=False).load("test")
    assert grey.shape == (PER_BATCH, 1, 64, 64)
    rgb = torch.from_numpy(batches["test_batch"][b"data"]).reshape(-1, 3, 32, 32).float()
    luma = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).mean()
    assert grey.float().mean().item() == pytest.approx(luma.item(), abs=1.0)


def test_cifar_verify_names_the_damaged_batch(tmp_path):
    write_cifar(tmp_path)
    with pytest.raises(DataUnavailableError) as info:
        CIFAR10(str(tmp_path), download=False).load("train")
    assert "data_batch_1" in str(info.value) and "c99cafc152244af753f735de768cd75f" in str(info.value)


def test_cifar_missing_and_unreachable(tmp_path, monkeypatch):
    root = tmp_path / "cifar10"
    with pytest.raises(DataUnavailableError) as info:
        CIFAR10(str(root), download=False).load("test")
    message = str(info.value)
    for part in (
        "CIFAR-10",
        "test_batch",
        str(root),
        "cifar-10-python.tar.gz",
        "GENBENCH_DATA",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "$GENBENCH_DATA/cifar10",
    ):
        assert part in message
    archive = RemoteFile(CIFAR10.archive.name, CIFAR10.archive.md5, (REFUSING + "x",))
    monkeypatch.setattr(CIFAR10, "archive", archive)
    start = time.monotonic()
    with pytest.raises(DataUnavailableError) as info:
        CIFAR10(str(root), download=True, timeout=5).load("train")
    assert time.monotonic() - start < 5
    message = str(info.value)
    for part in (
        "data_batch_1",
        "data_batch_5",
        str(root),
        "GENBENCH_DATA",
        "download failed",
        "127.0.0.1:9",
    ):
        assert part in message


def test_cifar_archive_is_unpacked(tmp_path, monkeypatch):
    batches = write_cifar(tmp_path / "src" / "cifar-10-batches-py")
    root = tmp_path / "cifar10"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    archive_md5 = md5sum(root / "cifar-10-python.tar.gz")
    monkeypatch.setattr(CIFAR10, "archive", RemoteFile("cifar-10-python.tar.gz", archive_md5, (REFUSING,)))
    test = CIFAR10(str(root), download=False, verify=False).load("test")
    assert torch.equal(test.reshape(PER_BATCH, -1), torch.from_numpy(batches["test_batch"][b"data"]))
    assert (root / "cifar-10-batches-py" / "data_batch_3").is_file()


def test_cifar_refuses_foreign_pickles(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": os.getcwd}))  # a callable, not data
    with pytest.raises(DataUnavailableError, match="test_batch"):
        CIFAR10(str(tmp_path), download=False, verify=False).load("test")
    assert cifar_module.read_batch(tmp_path / "data_batch_1")[0].shape == (PER_BATCH, 3, 32, 32)


def test_extract_refuses_escaping_members(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(DataUnavailableError):
        extract_tar_gz(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


# --------------------------------------------------------------------------- image folders

RED, BLUE = (200, 30, 40), (10, 20, 250)


def write_images(root: Path, n: int = 20) -> None:
    """n images of 40x30 (w x h): a RED 20x20 centre square on a BLUE background, in nested folders."""
    for i in range(n):
        folder = root / ("b" if i % 2 else "a") / ("deep" if i % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        img = Image.new("RGB", (40, 30), BLUE)
        img.paste(Image.new("RGB", (20, 20), RED), (10, 5))
        suffix = ".PNG" if i == 7 else ".png"
        img.save(folder / f"img_{i:02d}{suffix}")
    (root / "a" / "notes.txt").write_text("not an image")


def test_image_folder_crop_resize_and_order(tmp_path):
    write_images(tmp_path)
    reader = ImageFolder(str(tmp_path), image_size=16, crop=20)
    assert reader.shape == (3, 16, 16) and reader.labels("train") is None
    train = reader.load("train")
    item = train[0]
    assert item.shape == (3, 16, 16) and item.dtype == torch.uint8
    assert (item == torch.tensor(RED, dtype=torch.uint8).view(3, 1, 1)).all()  # only the red centre is kept
    names = [p.relative_to(tmp_path).as_posix() for p in train.files]
    assert names == sorted(names) and "a/notes.txt" not in names
    again = ImageFolder(str(tmp_path), image_size=16, crop=20).load("train")
    assert again.files == train.files
    whole = ImageFolder(str(tmp_path), image_size=8)[0]  # no crop: the largest centred square (30x30)
    assert whole.shape == (3, 8, 8)
    assert whole[:, 0, 0].tolist() == list(BLUE) and whole[:, 4, 4].tolist() == list(RED)


def test_image_folder_grey_and_splits(tmp_path):
    write_images(tmp_path)
    reader = ImageFolder(str(tmp_path), image_size=8, channels=1, crop=20)
    train, test = reader.load("train"), reader.load("test")
    assert (len(train), len(test)) == (18, 2)
    assert set(train.files).isdisjoint(test.files)
    assert (
        test.files == sorted(train.files + test.files, key=lambda p: p.relative_to(tmp_path).as_posix())[-2:]
    )
    item = test[1]
    assert item.shape == (1, 8, 8)
    luma = round(0.299 * RED[0] + 0.587 * RED[1] + 0.114 * RED[2])
    assert abs(int(item[0, 4, 4]) - luma) <= 1
    batch = torch.utils.data.DataLoader(train, batch_size=6)
    assert next(iter(batch)).shape == (6, 1, 8, 8)


def test_image_folder_missing_or_empty(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("x")
    for folder, words in [(tmp_path / "empty", "holds no images"), (tmp_path / "nowhere", "does not exist")]:
        reader = ImageFolder(str(folder))  # cheap: nothing is listed yet
        with pytest.raises(DataUnavailableError) as info:
            reader.load("train")
        message = str(info.value)
        for part in (words, str(folder), ".jpg", ".png", "dataset.root=", "GENBENCH_DATA"):
            assert part in message


# --------------------------------------------------------------------------- shared checks


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST, CIFAR10, ImageFolder])
@pytest.mark.parametrize("kwargs", [{"image_size": 4}, {"channels": 2}, {"image_size": 32.0}])
def test_bad_geometry_is_a_value_error(tmp_path, cls, kwargs):
    assert cls.is_image is True
    with pytest.raises(ValueError, match="image_size|channels"):
        cls(str(tmp_path), **kwargs)


def test_prepare_images_keeps_fitting_input_and_converts_exactly():
    x = torch.tensor([RED], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 8, 8)
    assert torch.equal(prepare_images(x, 8, 3), x)
    grey = prepare_images(x, 16, 1)
    assert grey.shape == (2, 1, 16, 16)
    assert (grey == round(0.299 * RED[0] + 0.587 * RED[1] + 0.114 * RED[2])).all()
    assert prepare_images(x[:0], 16, 1).shape == (0, 1, 16, 16)
