"""Heusel et al. 2017's disturbances of real images (their appendix, "FID captures disturbances"), on images in
[0, 1] of shape (N, C, H, W), each at a level alpha; alpha = 0 is the identity. Where the appendix is vague, the
authors' own script decides (github.com/bioinf-jku/TTUR, FIDvsINC/main.py and fidutils.py): the noise is a
standard normal matrix min-max scaled to the image range, the blur is scikit-image's `gaussian` (edges: nearest),
rectangles have side int(alpha * size), the swirl is one centred swirl of radius 25 pixels turning either way at
random with the outer pixels kept. Random draws come from the given torch generator, so a study is reproducible.
torch and scipy.ndimage only (torchvision and scikit-image are not dependencies)."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

# the levels of each disturbance: the appendix's (and the authors' script's)
LEVELS = {
    "gaussian_noise": (0.0, 0.25, 0.5, 0.75),   # (1 - a) x + a n, n Gaussian noise min-max scaled to [0, 1]
    "gaussian_blur": (0.0, 1.0, 2.0, 4.0),      # a: the Gaussian kernel's standard deviation, in pixels
    "black_rectangles": (0.0, 0.25, 0.5, 0.75),  # five black rectangles, each side int(a x the image's)
    "swirl": (0.0, 1.0, 2.0, 4.0),              # a: the swirl's strength (radius 25 pixels)
    "salt_and_pepper": (0.0, 0.1, 0.2, 0.3),    # a: the fraction of pixels set to black or white
    "contamination": (0.0, 0.25, 0.5, 0.75),    # a: the fraction of images replaced by another dataset's
}
SWIRL_RADIUS = 25  # the authors' script: 25 pixels (70 on 64x64 CelebA "to make the effect more visible")
SWIRL_KEPT_BORDER = 3  # the script puts back the outer 3 rows/columns (4 at the bottom and right) after swirling


def gaussian_noise(x: torch.Tensor, a: float, gen: torch.Generator, other=None) -> torch.Tensor:
    """(1 - a) x + a n; n: one standard normal draw per pixel, min-max scaled over the whole set to [0, 1]."""
    noise = torch.randn(x.shape, generator=gen)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (1 - a) * x + a * noise.to(x.dtype)


def gaussian_blur(x: torch.Tensor, a: float, gen=None, other=None) -> torch.Tensor:
    """Each channel convolved with a Gaussian of std a pixels (truncated at 4 std, edges repeated)."""
    if a == 0:
        return x.clone()
    blurred = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, a, a), mode="nearest", truncate=4.0)
    return torch.from_numpy(blurred).to(x.dtype)


def black_rectangles(x: torch.Tensor, a: float, gen: torch.Generator, other=None, count: int = 5) -> torch.Tensor:
    """`count` black rectangles of int(a H) x int(a W) pixels at uniform random places (they may overlap)."""
    out = x.clone()
    n, _, h, w = x.shape
    rh, rw = int(a * h), int(a * w)
    if rh == 0 or rw == 0:
        return out
    tops = torch.randint(0, h - rh + 1, (n, count), generator=gen)
    lefts = torch.randint(0, w - rw + 1, (n, count), generator=gen)
    for i in range(n):
        for top, left in zip(tops[i].tolist(), lefts[i].tolist(), strict=True):
            out[i, :, top:top + rh, left:left + rw] = 0
    return out


def swirl_sources(h: int, w: int, strength: float, radius: float = SWIRL_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's swirl map (rotation 0, centre pixel (h // 2, w // 2)): the output pixel at distance rho and
    angle phi from the centre reads the input at angle phi + strength * exp(-rho / (radius ln 2 / 5))."""
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    r0, c0 = h // 2, w // 2
    rho = np.hypot(rows - r0, cols - c0)
    theta = strength * np.exp(-rho / (radius / 5 * math.log(2))) + np.arctan2(rows - r0, cols - c0)
    return r0 + rho * np.sin(theta), c0 + rho * np.cos(theta)


def swirl(x: torch.Tensor, a: float, gen: torch.Generator | None = None, other=None) -> torch.Tensor:
    """One centred swirl of strength a, clockwise or anticlockwise at random per image (bilinear, reflected
    edges); the outer SWIRL_KEPT_BORDER pixels keep the original, as in the authors' script."""
    if a == 0:
        return x.clone()
    n, _, h, w = x.shape
    signs = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).tolist()
    maps = {s: swirl_sources(h, w, s * a) for s in set(signs)}
    images = x.numpy()
    out = images.copy()
    b = SWIRL_KEPT_BORDER
    for i, s in enumerate(signs):
        for c in range(images.shape[1]):
            turned = ndimage.map_coordinates(images[i, c], maps[s], order=1, mode="reflect")
            out[i, c, b:h - b - 1, b:w - b - 1] = turned[b:h - b - 1, b:w - b - 1]
    return torch.from_numpy(out).to(x.dtype)


def salt_and_pepper(x: torch.Tensor, a: float, gen: torch.Generator, other=None) -> torch.Tensor:
    """Each pixel (all channels together) hit with probability a; a hit pixel turns black or white, 50:50."""
    n, _, h, w = x.shape
    hit = torch.rand((n, 1, h, w), generator=gen) < a
    white = torch.rand((n, 1, h, w), generator=gen) < 0.5
    return torch.where(hit, white.to(x.dtype), x)


def contamination(x: torch.Tensor, a: float, gen: torch.Generator, other: torch.Tensor | None = None) -> torch.Tensor:
    """round(a N) images, at random places, replaced by images of another dataset."""
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
