"""Inception-v3 "2015-12-05" (the TensorFlow graph FID, KID and IS are defined with), in plain torch.

Why here: torchvision does not run on this stack, and FID is only comparable across papers with this exact
network. The module is written from the architecture (Szegedy et al. 2016) and the TF graph's quirks; its
state-dict key names and shapes are those of the widely shared PyTorch weight files, so they load as-is:
`pt_inception-2015-12-05-6726825d.pth` (pytorch-fid release) or a pool3-only copy of it.

TF-graph quirks kept: batch norm eps 1e-3 with no learned scale, average pooling in the mixed blocks that
does not count padding, and max (not average) pooling in the last block's pool branch.

Input: uint8 images [N, C, H, W] (C 1 or 3); grey is repeated to 3 channels, the batch is resized to
299x299 (bilinear, align_corners=False) and scaled to [-1, 1]. Output: pool3 (2048-d) features, and the
1008-way logits when the weight file has `fc` (IS needs them).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genbench.progress import Stage

log = logging.getLogger("genbench")

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URLS = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
)
KNOWN_NAMES = (WEIGHTS_NAME, "weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05_pool3_nofc.pth")
INPUT_SIZE = 299
FLOPS_PER_IMAGE = 11.4e9  # 5.7e9 multiply-adds at 299x299 (conv + fc layers; counted by scripts/bench_inception.py)


class WeightsUnavailableError(RuntimeError):
    """The Inception weights are neither given, cached nor downloadable."""


class Conv(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU: keys `<name>.conv.*` and `<name>.bn.*`."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _avg3(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    def __init__(self, cin: int, pool_ch: int):
        super().__init__()
        self.branch1x1 = Conv(cin, 64, 1)
        self.branch5x5_1 = Conv(cin, 48, 1)
        self.branch5x5_2 = Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(cin, pool_ch, 1)

    def forward(self, x):
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_avg3(x))
        return torch.cat([a, b, c, d], 1)


class ReductionA(nn.Module):
    """35 -> 17: strided 3x3 | 1x1-3x3-strided 3x3 | maxpool."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def forward(self, x):
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([a, b, F.max_pool2d(x, 3, stride=2)], 1)


class BlockC(nn.Module):
    """17x17 block with factorized 7x7 convolutions (1x7 and 7x1)."""

    def __init__(self, cin: int, mid: int):
        super().__init__()
        h, v = ((1, 7), (0, 3)), ((7, 1), (3, 0))
        self.branch1x1 = Conv(cin, 192, 1)
        self.branch7x7_1 = Conv(cin, mid, 1)
        self.branch7x7_2 = Conv(mid, mid, h[0], padding=h[1])
        self.branch7x7_3 = Conv(mid, 192, v[0], padding=v[1])
        self.branch7x7dbl_1 = Conv(cin, mid, 1)
        self.branch7x7dbl_2 = Conv(mid, mid, v[0], padding=v[1])
        self.branch7x7dbl_3 = Conv(mid, mid, h[0], padding=h[1])
        self.branch7x7dbl_4 = Conv(mid, mid, v[0], padding=v[1])
        self.branch7x7dbl_5 = Conv(mid, 192, h[0], padding=h[1])
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            c = layer(c)
        d = self.branch_pool(_avg3(x))
        return torch.cat([a, b, c, d], 1)


class ReductionB(nn.Module):
    """17 -> 8: 1x1-strided 3x3 | 1x1-1x7-7x1-strided 3x3 | maxpool."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = Conv(cin, 192, 1)
        self.branch3x3_2 = Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(cin, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x):
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([a, b, F.max_pool2d(x, 3, stride=2)], 1)


class BlockE(nn.Module):
    """8x8 block with split 1x3 / 3x1 outputs; `max_pool` is the TF graph's last block (mixed_10)."""

    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = Conv(cin, 320, 1)
        self.branch3x3_1 = Conv(cin, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = Conv(cin, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        a = self.branch1x1(x)
        t = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(t), self.branch3x3_2b(t)], 1)
        u = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(u), self.branch3x3dbl_3b(u)], 1)
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([a, b, c, self.branch_pool(pooled)], 1)


class InceptionV3(nn.Module):
    """The FID network: `forward(x)` takes x already at 299x299 in [-1, 1]; returns (pool3, logits or None)."""

    def __init__(self, logits: bool = True):
        super().__init__()
        self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)
        self.Mixed_5b = BlockA(192, 32)
        self.Mixed_5c = BlockA(256, 64)
        self.Mixed_5d = BlockA(288, 64)
        self.Mixed_6a = ReductionA(288)
        self.Mixed_6b = BlockC(768, 128)
        self.Mixed_6c = BlockC(768, 160)
        self.Mixed_6d = BlockC(768, 160)
        self.Mixed_6e = BlockC(768, 192)
        self.Mixed_7a = ReductionB(768)
        self.Mixed_7b = BlockE(1280, max_pool=False)
        self.Mixed_7c = BlockE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008) if logits else None

    def forward(self, x: torch.Tensor):
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        pool = x.mean(dim=(2, 3))
        return pool, (self.fc(pool) if self.fc is not None else None)


def preprocess(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """uint8 [N, 1|3, H, W] -> float [N, 3, size, size] in [-1, 1] (bilinear, align_corners=False)."""
    if images.dtype != torch.uint8:
        raise TypeError(f"Inception takes uint8 images (quantize samples first), got {images.dtype}")
    x = images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x * (2.0 / 255.0) - 1.0


def file_sha256(path: str | Path, _cache: dict = {}) -> str:  # noqa: B006 - a per-process memo
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        _cache[key] = h.hexdigest()
    return _cache[key]


def _hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _online(host: str = "github.com", timeout: float = 3.0) -> bool:
    if os.environ.get("GENBENCH_OFFLINE", "") not in ("", "0"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def resolve_weights(weights: str | Path | None) -> Path:
    """The weight file: `weights` if given; else a copy in the torch hub cache; else downloaded once there.

    Offline with none of these: WeightsUnavailableError at once (a 3 s connection probe; GENBENCH_OFFLINE=1
    skips even that), naming the file and where to get it.
    """
    if weights is not None:
        path = Path(str(weights)).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"eval.inception.weights={weights}: no such file")
        return path
    cached = [_hub_checkpoints() / name for name in KNOWN_NAMES]
    for path in cached:
        if path.is_file():
            return path
    if not _online():
        raise WeightsUnavailableError(
            f"The Inception-v3 2015-12-05 weights are needed for FID/KID/IS/PRDC and this machine is offline. "
            f"Download {WEIGHTS_NAME} from {WEIGHTS_URLS[0]} and put it in {_hub_checkpoints()}/ or pass "
            f"eval.inception.weights=<path>; or use eval.extractor=classifier for digit data.")
    log.info("downloading the Inception weights once into %s", _hub_checkpoints())
    torch.hub.load_state_dict_from_url(WEIGHTS_URLS[0], progress=False, check_hash=True, map_location="cpu")
    return _hub_checkpoints() / WEIGHTS_NAME


def load_inception(weights: str | Path | None = None) -> tuple[InceptionV3, Path]:
    """An eval-mode InceptionV3 with the weights loaded (logits only when the file has `fc`)."""
    path = resolve_weights(weights)
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = InceptionV3(logits="fc.weight" in state)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise WeightsUnavailableError(f"{path} is not an Inception-v3 2015-12-05 state dict "
                                      f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return net.eval().requires_grad_(False), path


class InceptionExtractor:
    """FID's Inception as a genbench feature extractor: uint8 images -> {"pool": [N, 2048], "logits": [N, 1008]}."""

    name = "inception"

    def __init__(self, weights: str | Path | None = None, batch_size: int = 8, channels_last: bool = True):
        self.net, self.weights_path = load_inception(weights)
        self.batch_size, self.channels_last = int(batch_size), channels_last
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    @property
    def has_logits(self) -> bool:
        return self.net.fc is not None

    @property
    def identity(self) -> dict:
        return {"extractor": "inception-2015-12-05", "weights_sha256": file_sha256(self.weights_path),
                "input": "uint8 -> 299x299 bilinear (align_corners=False) -> [-1,1]; grey repeated to RGB",
                "features": "pool3 2048"}

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor | None]:
        device = next(self.net.parameters()).device
        pools, logits = [], []
        with Stage("Inception features", total=len(images), unit="images") as stage:
            for start in range(0, len(images), self.batch_size):
                x = preprocess(images[start:start + self.batch_size].to(device))
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                p, lg = self.net(x)
                pools.append(p.float().cpu())
                if lg is not None:
                    logits.append(lg.float().cpu())
                stage.advance(len(x))
        pool = torch.cat(pools) if pools else torch.empty(0, 2048)
        return {"pool": pool, "logits": torch.cat(logits) if logits else None}
