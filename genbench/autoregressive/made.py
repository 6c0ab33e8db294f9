"""MADE (Germain et al. 2015) for vectors: an MLP whose weight masks make output d depend on inputs < d only, so
one pass gives every conditional p(x_d | x_<d) (teacher forcing) and sampling takes D passes.

Degrees: input d has degree d (1..D); hidden unit j of every layer has degree 1 + (j mod (D - 1)) (cyclic, so each
degree is present); a hidden unit sees units of degree <= its own, output d sees hidden units of degree < d. Output
d = 1 sees none: its parameters are learned constants (the marginal p(x_1)).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from genbench.autoregressive.outputs import GaussianMixture1D


class MaskedLinear(nn.Linear):
    def __init__(self, mask: torch.Tensor):
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    def __init__(self, dim: int, hidden: list[int], components: int):
        super().__init__()
        self.dim, self.out = dim, GaussianMixture1D(components)
        per = self.out.params_per_dim
        degrees = [torch.arange(1, dim + 1)]
        layers: list[nn.Module] = []
        for width in hidden:
            deg = 1 + torch.arange(width) % max(dim - 1, 1)
            layers += [MaskedLinear(deg[:, None] >= degrees[-1][None, :]), nn.ReLU()]
            degrees.append(deg)
        out_deg = torch.arange(1, dim + 1).repeat_interleave(per)
        layers.append(MaskedLinear(out_deg[:, None] > degrees[-1][None, :]))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, D, params per dimension)."""
        return self.net(x).view(len(x), self.dim, -1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.out.log_prob(self(x), x)

    def init_output(self, points: torch.Tensor) -> None:
        """Spread each coordinate's component means over its data quantiles and set their scales to the gaps
        (so every component starts where there is data; the marginal p(x_1) is then already a fair fit)."""
        k = self.out.components
        q = torch.linspace(0.5 / k, 1 - 0.5 / k, k, device=points.device, dtype=points.dtype)
        means = torch.quantile(points, q, dim=0).T  # (D, K)
        spread = (points.std(0) / k).clamp(min=1e-3).log()
        last = self.net[-1]
        with torch.no_grad():
            bias = last.bias.view(self.dim, 3, k)
            bias[:, 0] = 0
            bias[:, 1] = means
            bias[:, 2] = spread[:, None]

    @torch.no_grad()
    def sample(self, u: torch.Tensor) -> torch.Tensor:
        """(n, D * 2) uniforms -> (n, D) points, one coordinate per pass."""
        u = u.view(len(u), self.dim, self.out.uniforms_per_dim)
        x = torch.zeros(len(u), self.dim, dtype=u.dtype, device=u.device)
        for d in range(self.dim):
            x[:, d] = self.out.sample(self(x)[:, d], u[:, d])
        return x
