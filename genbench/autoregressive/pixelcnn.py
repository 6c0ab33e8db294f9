"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders"): masked
convolutions in two stacks, so the parameters at pixel (i, j) depend on the pixels before it in raster order only,
with no blind spot.

- The vertical stack sees the rows above: a (k//2 + 1) x k convolution padded on top only, so its row i covers
  input rows <= i; it reaches the horizontal stack shifted down one row (rows < i).
- The horizontal stack sees the pixels to the left in the same row: a 1 x (k//2 + 1) convolution padded on the
  left; the first layer's (mask A) excludes the pixel itself, later ones (mask B) include it (their input at j
  already excludes pixel j).
- Each layer: tanh(a) * sigmoid(b) gates in both stacks, the horizontal one with a 1 x 1 projection and a residual
  connection; the output head is ReLU, 1 x 1, ReLU, 1 x 1 to the distribution's parameters.

Row cache (`sample_pixels(cache=True)`): a pixel's parameters need only what its causal view reaches.
- Vertical stack: rows above are final once sampled, so each layer's vertical features are computed once per row,
  from the last k//2 + 1 rows of its input (`vertical_rows`): H one-row steps per image instead of H steps over
  all the rows above (O(H) rows instead of O(H^2)).
- Horizontal stack: pixel (i, j) runs it on row i alone, over the columns its receptive field covers
  (`pixel_params`: first_kernel//2 + (layers - 1) * kernel//2 columns left of j, and j), a 1 x <= 11 computation
  for the default net instead of the whole H x W image.
The same images as the whole net per pixel (`cache=False`, the reference; tests/test_autoregressive.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, 1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    def __init__(self, c_in: int, width: int, kernel: int, first: bool):
        super().__init__()
        self.half, self.first = kernel // 2, first
        self.v_conv = nn.Conv2d(c_in, 2 * width, (self.half + 1, kernel))
        self.h_conv = nn.Conv2d(c_in, 2 * width, (1, self.half if first else self.half + 1))
        self.v_to_h = nn.Conv2d(2 * width, 2 * width, 1)
        self.h_out = nn.Conv2d(width, width, 1)

    def vertical(self, v: torch.Tensor) -> torch.Tensor:
        """Pre-gate vertical features; row i covers input rows <= i."""
        return self.v_conv(F.pad(v, (self.half, self.half, self.half, 0)))

    def to_h(self, v_pre: torch.Tensor) -> torch.Tensor:
        """What the vertical stack adds to the horizontal one: shifted down a row (row i sees rows < i)."""
        return self.v_to_h(F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1])

    def horizontal(self, h: torch.Tensor, from_v: torch.Tensor) -> torch.Tensor:
        """Horizontal output; column j covers input columns < j (first layer) or <= j."""
        if self.first:  # mask A: columns j - k//2 .. j - 1
            pre = self.h_conv(F.pad(h, (self.half, 0))[..., :-1])
        else:           # mask B: columns j - k//2 .. j
            pre = self.h_conv(F.pad(h, (self.half, 0)))
        out = self.h_out(_gate(pre + from_v))
        return out if self.first else out + h


class GatedPixelCNN(nn.Module):
    def __init__(self, channels: int, params_per_pixel: int, width: int = 64, layers: int = 8,
                 first_kernel: int = 7, kernel: int = 3, head: int = 256):
        super().__init__()
        self.layers = nn.ModuleList(
            [GatedLayer(channels if i == 0 else width, width, first_kernel if i == 0 else kernel, i == 0)
             for i in range(layers)])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(width, head, 1), nn.ReLU(), nn.Conv2d(head, params_per_pixel, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [-1, 1] -> (B, P, H, W): the parameters of p(x_ij | x_<ij) at every pixel."""
        v = h = x
        for layer in self.layers:
            v_pre = layer.vertical(v)
            h = layer.horizontal(h, layer.to_h(v_pre))
            v = _gate(v_pre)
        return self.head(h)

    def vertical_rows(self, x: torch.Tensor) -> Iterator[list[torch.Tensor]]:
        """Per row i, in order: per layer the vertical stack's term entering the horizontal stack at row i,
        (B, 2F, 1, W). Row i's terms read rows < i only; after yielding them it reads row i of `x`, which the
        caller may have filled in the meantime (sampling), to compute row i + 1's from each layer's last rows."""
        batch, width = len(x), x.shape[-1]
        # per layer, the last k//2 + 1 rows of its input; zeros above the image, as vertical()'s top padding
        windows = [x.new_zeros(batch, layer.v_conv.in_channels, layer.half + 1, width) for layer in self.layers]
        terms = [layer.v_to_h(x.new_zeros(batch, layer.v_to_h.in_channels, 1, width)) for layer in self.layers]
        for i in range(x.shape[2]):
            yield terms
            if i == x.shape[2] - 1:
                return
            v, terms = x[:, :, i:i + 1], []
            for k, layer in enumerate(self.layers):
                windows[k] = torch.cat([windows[k][:, :, 1:], v], 2)
                v_pre = layer.v_conv(F.pad(windows[k], (layer.half, layer.half)))  # row i alone
                terms.append(layer.v_to_h(v_pre))
                v = _gate(v_pre)

    @property
    def horizontal_reach(self) -> int:
        """How many columns left of j the horizontal stack's output at column j reads."""
        return sum(layer.half for layer in self.layers)

    def pixel_params(self, x: torch.Tensor, row: int, col: int, terms: list[torch.Tensor]) -> torch.Tensor:
        """(B, P) parameters of pixel (row, col) from row `row`'s columns col - reach .. col and the row's vertical
        terms. Columns left of that window read as zeros (the stack's padding), which corrupts a layer's outputs
        near the window's left edge only; the corruption moves right by each layer's reach and never gets to col."""
        start = max(0, col - self.horizontal_reach)
        h = x[:, :, row:row + 1, start:col + 1]
        for layer, term in zip(self.layers, terms, strict=True):
            h = layer.horizontal(h, term[..., start:col + 1])
        return self.head(h[..., -1:])[:, :, 0, 0]


@torch.no_grad()
def sample_pixels(net: GatedPixelCNN, out, u: torch.Tensor, shape: tuple[int, int, int],
                  cache: bool = True) -> torch.Tensor:
    """(n, H * W * U) uniforms -> (n, C, H, W) pixels in the output's target space, one pixel at a time
    (H * W sequential steps). cache=False: the whole net on the whole image for every pixel (the reference)."""
    c, height, width = shape
    u = u.view(len(u), height, width, -1)
    x = torch.zeros(len(u), c, height, width, dtype=u.dtype, device=u.device)
    inp = out.to_input(x)
    rows = net.vertical_rows(inp) if cache else None
    for i in range(height):
        terms = next(rows) if cache else None
        for j in range(width):
            params = net.pixel_params(inp, i, j, terms) if cache else net(inp)[:, :, i, j]
            x[:, :, i, j] = out.sample(params, u[:, i, j])
            inp[:, :, i, j] = out.to_input(x[:, :, i, j])
    return x
