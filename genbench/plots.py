"""Pictures a run leaves behind: scatter plots for 2D data, image grids for images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


def scatter_png(samples: torch.Tensor, real: torch.Tensor, path: Path, title: str) -> None:
    """Generated points (orange) over real points (blue), equal axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    r, s = real.cpu().numpy(), samples.detach().cpu().float().numpy()
    ax.scatter(r[:, 0], r[:, 1], s=2, c="tab:blue", alpha=0.3, label="data")
    ax.scatter(s[:, 0], s[:, 1], s=2, c="tab:orange", alpha=0.5, label="generated")
    lim = 1.15 * float(np.abs(r).max())
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", markerscale=4)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def code_scatter_png(samples: torch.Tensor, values: list, real: torch.Tensor, path: Path, title: str) -> None:
    """A latent traversal on 2D data: samples (rows * len(values), 2), row-major, coloured by their column's
    code value (a legend for categories, a colour bar for numbers), over the real points in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 5), dpi=100)
    r, s = real.cpu().numpy(), samples.detach().cpu().float().numpy()
    cols = len(values)
    column = np.arange(len(s)) % cols
    ax.scatter(r[:, 0], r[:, 1], s=2, c="0.75", alpha=0.3)
    categorical = all(isinstance(v, int) for v in values)
    if categorical:
        cmap = plt.get_cmap("tab10" if cols <= 10 else "tab20")
        for j, v in enumerate(values):
            pts = s[column == j]
            ax.scatter(pts[:, 0], pts[:, 1], s=3, color=cmap(j % cmap.N), alpha=0.7, label=str(v))
        ax.legend(loc="upper right", markerscale=4, fontsize=7, ncol=2, title="value")
    else:
        points = ax.scatter(s[:, 0], s[:, 1], s=3, c=np.asarray(values, dtype=float)[column], cmap="viridis",
                            alpha=0.7)
        fig.colorbar(points, ax=ax, label="code value")
    lim = 1.15 * float(np.abs(r).max())
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Model-space images in [-1, 1] -> uint8 [0, 255], rounded to nearest: the one quantization that
    saved grids and the feature metrics share. uint8 input (real data) passes through."""
    if images.dtype == torch.uint8:
        return images.cpu()
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) uint8 -> one (H', W', C) uint8 array with `pad` pixels of white between tiles."""
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), 255, dtype=np.uint8)
    arr = images.permute(0, 2, 3, 1).numpy()
    for i in range(n):
        y, x = divmod(i, nrow)
        grid[pad + y * (h + pad):pad + y * (h + pad) + h, pad + x * (w + pad):pad + x * (w + pad) + w] = arr[i]
    return grid


def grid_png(images: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    from PIL import Image

    grid = image_grid(to_uint8(images), nrow)
    Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid).save(path)
