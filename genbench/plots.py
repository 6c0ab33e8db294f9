"""Pictures a run leaves behind: scatter plots for 2D data, image grids for images."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where used: genbench-table draws figures without loading torch
    import torch


def view_limit(real: torch.Tensor) -> float:
    """Half the side of the square view of 2D plots: the real data's extent plus a margin."""
    return 1.15 * float(np.abs(real.cpu().numpy()).max())


def save_figure(fig, path: Path, **savefig_kwargs) -> None:
    """Lay `fig` out (tight), write it and close it. After `tight_layout` matplotlib leaves a placeholder layout
    engine on the figure, and with one set `savefig` draws the whole figure an extra time before rendering it
    (about a fifth of a small plot's cost); the layout is final here, so the engine is dropped first. The
    picture is the same to the pixel."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.set_layout_engine(None)
    fig.savefig(path, **savefig_kwargs)
    plt.close(fig)


def mark_outside(ax, points: np.ndarray, lim: float) -> dict:
    """Generated points beyond the square view [-lim, lim]^2 would be clipped silently: draw, for each side they
    leave through, an arrow at the border with their count and their median position, and say how many are
    outside under the plot. Returns {"outside", "non_finite", "n"} (counts over `points`)."""
    finite = np.isfinite(points).all(axis=1)
    beyond = finite & (np.abs(points) > lim).any(axis=1)
    info = {"outside": int(beyond.sum()), "non_finite": int((~finite).sum()), "n": len(points)}
    out = points[beyond]
    horizontal = np.abs(out[:, 0]) >= np.abs(out[:, 1])
    sides = {"right": horizontal & (out[:, 0] > 0), "left": horizontal & (out[:, 0] <= 0),
             "top": ~horizontal & (out[:, 1] > 0), "bottom": ~horizontal & (out[:, 1] <= 0)}
    for side, chosen in sides.items():
        if not chosen.any():
            continue
        pts = out[chosen]
        tip = np.median(pts / np.abs(pts).max(axis=1, keepdims=True), axis=0) * 0.97 * lim  # on the border
        tail = tip * 0.8
        where = np.median(pts, axis=0)
        ax.annotate(f"{len(pts)} at ({where[0]:.3g}, {where[1]:.3g})", xy=tip, xytext=tail, color="tab:red",
                    fontsize=8, ha="left" if side == "left" else "right" if side == "right" else "center",
                    va="bottom" if side == "bottom" else "top" if side == "top" else "center",
                    arrowprops={"arrowstyle": "->", "color": "tab:red", "lw": 1.5})
    if info["outside"] or info["non_finite"]:
        caption = f"{info['outside']} of {info['n']} generated samples outside the plot (red arrows)"
        if info["non_finite"]:
            caption += f"; {info['non_finite']} not finite"
        ax.set_xlabel(caption, color="tab:red")
    return info


def scatter_png(samples: torch.Tensor, real: torch.Tensor, path: Path, title: str) -> dict:
    """Generated points (orange) over real points (blue), equal axes around the data; generated points beyond the
    view are marked at the border (mark_outside). Returns mark_outside's counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    r, s = real.cpu().numpy(), samples.detach().cpu().float().numpy()
    ax.scatter(r[:, 0], r[:, 1], s=2, c="tab:blue", alpha=0.3, label="data")
    ax.scatter(s[:, 0], s[:, 1], s=2, c="tab:orange", alpha=0.5, label="generated")
    lim = view_limit(real)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    info = mark_outside(ax, s, lim)
    ax.legend(loc="upper right", markerscale=4)
    ax.set_title(title)
    save_figure(fig, path)
    return info


def code_scatter_png(samples: torch.Tensor, values: list, real: torch.Tensor, path: Path, title: str) -> dict:
    """A latent traversal on 2D data: samples (rows * len(values), 2), row-major, coloured by their column's
    code value (a legend for categories, a colour bar for numbers), over the real points in grey; points beyond
    the view are marked at the border. Returns mark_outside's counts."""
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
    lim = view_limit(real)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    info = mark_outside(ax, s, lim)
    ax.set_title(title)
    save_figure(fig, path)
    return info


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Model-space images in [-1, 1] -> uint8 [0, 255], rounded to nearest: the one quantization that
    saved grids and the feature metrics share. uint8 input (real data) passes through."""
    import torch

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


LABEL_FONT_PX = 10    # the height of the labels' font
HEADER_PX = 2 * LABEL_FONT_PX + 8  # the band above a labelled grid: a title line and one label per column


def format_value(value) -> str:
    """A code value as a column label: categories as they are, numbers with 3 significant digits."""
    if isinstance(value, int):
        return str(value)
    return f"{round(float(value), 6) + 0.0:.3g}"  # linspace's -1.2e-07 for 0 reads 0 (and -0.0 too)


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=LABEL_FONT_PX)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font (about as tall)
        return ImageFont.load_default()


def labelled_grid_png(images: torch.Tensor, path: Path, column_labels: list[str], title: str,
                      row_labels: list[str] | None = None) -> None:
    """An image grid with one column per label (a latent traversal: the swept value per column) under a band of
    HEADER_PX pixels holding `title` and each column's label, centred over it; `row_labels` (e.g. which latent
    dimension a row sweeps) go in a margin on the left: a traversal that says what it sweeps and to which values."""
    from PIL import Image, ImageDraw

    pad, font = 2, _font()
    grid = image_grid(to_uint8(images), len(column_labels), pad=pad)
    grey = grid.shape[2] == 1
    body = Image.fromarray(grid[:, :, 0] if grey else grid)
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    left = int(max((measure.textlength(r, font=font) for r in row_labels or []), default=-4)) + 4
    white, ink = (255, 0) if grey else ((255, 255, 255), (0, 0, 0))
    canvas = Image.new(body.mode, (left + body.width, body.height + HEADER_PX), white)
    canvas.paste(body, (left, HEADER_PX))
    draw = ImageDraw.Draw(canvas)
    draw.text((pad, 2), title, fill=ink, font=font)
    tile_h, tile_w = images.shape[-2:]
    for j, label in enumerate(column_labels):
        centre = left + pad + j * (tile_w + pad) + tile_w / 2
        draw.text((centre - draw.textlength(label, font=font) / 2, HEADER_PX - LABEL_FONT_PX - 4), label,
                  fill=ink, font=font)
    for i, label in enumerate(row_labels or []):
        middle = HEADER_PX + pad + i * (tile_h + pad) + tile_h / 2
        draw.text((2, middle - LABEL_FONT_PX / 2), label, fill=ink, font=font)
    canvas.save(path)
