"""Heusel et al. 2017's disturbances of real images (their appendix, "FID captures disturbances"), on images in
[0, 1] of shape (N, C, H, W), each at a level alpha; alpha = 0 is the identity. Random draws come from the given
torch generator, so a study is reproducible. Implemented with torch and scipy.ndimage (torchvision and
scikit-image are not dependencies); the swirl is scikit-image's `swirl` map."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

# the levels of each disturbance (Heusel et al.'s, as described in their appendix)
LEVELS = {
    "gaussian_noise": (0.0, 0.25, 0.5, 0.75),   # (1 - a) x + a n, n Gaussian noise in [0, 1]
    "gaussian_blur": (0.0, 1.0, 2.0, 4.0),      # a: the Gaussian kernel's standard deviation, in pixels
    "black_rectangles": (0.0, 0.25, 0.5, 0.75),  # five black rectangles, each side a x the image's
    "swirl": (0.0, 1.0, 2.0, 4.0),              # a: the swirl's strength (radius: the image size)
    "salt_and_pepper": (0.0, 0.1, 0.2, 0.3),    # a: the fraction of pixels set to black or white
    "contamination": (0.0, 0.25, 0.5, 0.75),    # a: the fraction of images replaced by another dataset's
}


def gaussian_noise(x: torch.Tensor, a: float, gen: torch.Generator, other=None) -> torch.Tensor:
    noise = (0.5 + 0.25 * torch.randn(x.shape, generator=gen)).clamp(0, 1)  # N(0.5, 0.25^2) clipped to [0, 1]
    return (1 - a) * x + a * noise


def gaussian_blur(x: torch.Tensor, a: float, gen=None, other=None) -> torch.Tensor:
    if a == 0:
        return x.clone()
    blurred = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, a, a), mode="reflect")
    return torch.from_numpy(blurred).to(x.dtype)


def black_rectangles(x: torch.Tensor, a: float, gen: torch.Generator, other=None, count: int = 5) -> torch.Tensor:
    out = x.clone()
    n, _, h, w = x.shape
    rh, rw = round(a * h), round(a * w)
    if rh == 0 or rw == 0:
        return out
    tops = torch.randint(0, h - rh + 1, (n, count), generator=gen)
    lefts = torch.randint(0, w - rw + 1, (n, count), generator=gen)
    for i in range(n):
        for top, left in zip(tops[i].tolist(), lefts[i].tolist(), strict=True):
            out[i, :, top:top + rh, left:left + rw] = 0
    return out


def swirl(x: torch.Tensor, a: float, gen=None, other=None) -> torch.Tensor:
    """scikit-image's swirl (center: the image's, rotation 0, radius: the image size): the pixel at distance rho
    from the centre comes from the angle turned by a * exp(-rho / (radius * ln 2 / 5)); bilinear, reflected."""
    if a == 0:
        return x.clone()
    _, _, h, w = x.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    r0, c0 = (h - 1) / 2, (w - 1) / 2
    rho = np.hypot(rows - r0, cols - c0)
    theta = a * np.exp(-rho / (max(h, w) / 5 * math.log(2))) + np.arctan2(rows - r0, cols - c0)
    coords = [r0 + rho * np.sin(theta), c0 + rho * np.cos(theta)]
    images = x.numpy()
    out = np.empty_like(images)
    for i in range(images.shape[0]):
        for c in range(images.shape[1]):
            out[i, c] = ndimage.map_coordinates(images[i, c], coords, order=1, mode="reflect")
    return torch.from_numpy(out).to(x.dtype)


def salt_and_pepper(x: torch.Tensor, a: float, gen: torch.Generator, other=None) -> torch.Tensor:
    n, _, h, w = x.shape
    hit = torch.rand((n, 1, h, w), generator=gen) < a
    white = torch.rand((n, 1, h, w), generator=gen) < 0.5
    return torch.where(hit, white.to(x.dtype), x)


def contamination(x: torch.Tensor, a: float, gen: torch.Generator, other: torch.Tensor | None = None) -> torch.Tensor:
    """The first round(a N) images (of a random order) replaced by images of another dataset."""
    if other is None:
        raise ValueError("contamination needs images of another dataset")
    out = x.clone()
    k = round(a * len(x))
    which = torch.randperm(len(x), generator=gen)[:k]
    out[which] = other[:k].to(x.dtype)
    return out


DISTURBANCES = {"gaussian_noise": gaussian_noise, "gaussian_blur": gaussian_blur,
                "black_rectangles": black_rectangles, "swirl": swirl, "salt_and_pepper": salt_and_pepper,
                "contamination": contamination}
