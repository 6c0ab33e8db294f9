"""Shape a whole in-memory split once: channel count and square size, staying uint8.

Why: the trainer indexes one uint8 tensor directly, so resizing and channel conversion happen here,
once per load, instead of per batch. Work is done in float on chunks to bound peak memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)
"""ITU-R 601 luminance weights, the ones PIL's ``convert("L")`` uses."""

_CHUNK = 2048


def check_geometry(image_size: int, channels: int) -> None:
    """Reject image sizes and channel counts that no network here can use, with a clear message."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer of at least 8 pixels, got {image_size!r}")
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")


def _convert(x: torch.Tensor, image_size: int, channels: int) -> torch.Tensor:
    """One float pass over a chunk: to grey by luminance if asked, resize, round back to uint8."""
    y = x.float()
    if channels == 1 and y.shape[1] == 3:
        weights = torch.tensor(LUMA, dtype=y.dtype).view(1, 3, 1, 1)
        y = (y * weights).sum(dim=1, keepdim=True)
    if y.shape[-2:] != (image_size, image_size):
        y = F.interpolate(
            y, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False
        )
    return y.round_().clamp_(0, 255).to(torch.uint8)


def prepare_images(x: torch.Tensor, image_size: int, channels: int) -> torch.Tensor:
    """Turn uint8 images [N, C, H, W] (C 1 or 3) into uint8 [N, channels, image_size, image_size].

    Resizing uses antialiased bilinear interpolation; grey becomes RGB by repeating the channel, RGB
    becomes grey by luminance. Already fitting input is returned as it is (made contiguous).
    """
    if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected uint8 images [N, 1 or 3, H, W], got {x.dtype} {tuple(x.shape)}")
    check_geometry(image_size, channels)
    same_size = x.shape[-2:] == (image_size, image_size)
    if not same_size or (channels == 1 and x.shape[1] == 3):
        out = x.new_empty((len(x), min(channels, x.shape[1]), image_size, image_size))
        for start in range(0, len(x), _CHUNK):
            out[start : start + _CHUNK] = _convert(x[start : start + _CHUNK], image_size, channels)
        x = out
    if channels == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous()
