"""Pictures that do not lie: 2D scatter plots mark and count generated points beyond the view; traversal grids
name the code and each column's value."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from genbench.plots import HEADER_PX, format_value, labelled_grid_png, scatter_png


def ring(n: int = 400) -> torch.Tensor:
    angle = torch.linspace(0, 2 * np.pi, n)
    return 2 * torch.stack([angle.cos(), angle.sin()], 1)


def red_pixels(path) -> int:
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int(((rgb[..., 0] > 150) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)).sum())


def test_scatter_counts_and_marks_points_beyond_the_view(tmp_path):
    """The reg=[gp,sn] case: most samples far off the data at (-7, -24); a few NaN."""
    gen = torch.Generator().manual_seed(0)
    far = torch.tensor([-7.0, -24.0]) + 0.1 * torch.randn(300, 2, generator=gen)
    near = 0.5 * torch.randn(100, 2, generator=gen)
    right = torch.tensor([[9.0, 0.5]]).repeat(5, 1)
    samples = torch.cat([far, near, right, torch.full((2, 2), float("nan"))])
    path = tmp_path / "far.png"
    assert scatter_png(samples, ring(), path, "far away") == {"outside": 305, "non_finite": 2, "n": 407}
    inside = tmp_path / "near.png"
    assert scatter_png(near, ring(), inside, "near") == {"outside": 0, "non_finite": 0, "n": 100}
    # The picture shows it: red arrows and caption only where points are outside.
    assert red_pixels(path) > 200 and red_pixels(inside) == 0


def test_scatter_caption_and_arrow_labels_say_where(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    texts = []
    real_close = plt.close

    def grab(fig):  # the figure's texts just before it is closed
        texts.extend(t.get_text() for ax in fig.axes for t in [*ax.texts, ax.xaxis.label])
        real_close(fig)

    monkeypatch.setattr(plt, "close", grab)
    samples = torch.cat([torch.tensor([[-7.0, -24.0]]).repeat(30, 1), torch.zeros(10, 2)])
    scatter_png(samples, ring(), tmp_path / "s.png", "t")
    assert "30 of 40 generated samples outside the plot (red arrows)" in texts
    assert "30 at (-7, -24)" in texts  # one arrow: every point leaves through the bottom


def test_traversal_grid_names_the_code_and_each_column_value(tmp_path):
    values = [-2.0, -1.5, 0.0, 1.5, 2.0]
    labels = [format_value(v) for v in values]
    assert labels == ["-2", "-1.5", "0", "1.5", "2"] and format_value(3) == "3"
    assert [format_value(v) for v in torch.linspace(-3, 3, 11).tolist()][5] == "0"  # not -1.19e-07
    images = torch.full((2 * len(values), 1, 28, 28), -1.0)  # black tiles: 2 rows x 5 columns
    path = tmp_path / "traverse.png"
    labelled_grid_png(images, path, labels, "code c2 (column: its value)")
    pixels = np.asarray(Image.open(path))
    assert pixels.shape == (2 * 30 + 2 + HEADER_PX, 5 * 30 + 2)
    band = pixels[:HEADER_PX]
    title, values_row = band[:HEADER_PX // 2], band[HEADER_PX // 2:]
    assert (title < 128).sum() > 30  # the title's ink
    for j in range(len(values)):  # each column has its value's ink above it
        assert (values_row[:, 2 + j * 30:2 + j * 30 + 28] < 128).sum() > 5, j
    assert (pixels[HEADER_PX + 2:HEADER_PX + 30, 2:30] == 0).all()  # the first tile, below the band
    blank = tmp_path / "blank.png"
    labelled_grid_png(images, blank, [""] * len(values), "")
    assert (np.asarray(Image.open(blank))[:HEADER_PX] == 255).all()  # the ink above is the labels'


def test_traversal_rows_get_labels_in_a_left_margin(tmp_path):
    """A VAE traversal: one latent dimension per row, named on the left."""
    images = torch.full((2 * 3, 1, 28, 28), -1.0)
    path = tmp_path / "rows.png"
    labelled_grid_png(images, path, ["-3", "0", "3"], "latent z_u (row) set to the value (column)",
                      row_labels=["z7", "z12"])
    pixels = np.asarray(Image.open(path))
    margin = pixels.shape[1] - (3 * 30 + 2)
    assert pixels.shape[0] == 2 * 30 + 2 + HEADER_PX and 10 < margin < 40
    for i in range(2):  # ink beside each row, in the margin
        rows = pixels[HEADER_PX + 2 + i * 30:HEADER_PX + 30 + i * 30, :margin - 2]
        assert (rows < 128).sum() > 5, i
    assert (pixels[HEADER_PX + 2:HEADER_PX + 30, margin + 2:margin + 30] == 0).all()  # the first tile
