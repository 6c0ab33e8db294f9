"""2D toy distributions, generated in memory from the run's seed (no download).

Each class has the interface of the image datasets (`shape`, `is_image`, `load(split)`), plus, for
the Gaussian mixtures, `modes` and `std` for the mode-coverage metric and `log_prob(x)`, the true density the
toy NLL metric's floor is computed from.
"""

from __future__ import annotations

import math

import torch


class Toy2D:
    """Base: `n` points drawn once per split from a fixed seed (train and test differ)."""

    is_image = False
    shape = (2,)
    modes: torch.Tensor | None = None

    def __init__(self, n: int = 100_000, std: float = 0.02, seed: int = 0):
        self.n, self.std, self.seed = int(n), float(std), int(seed)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def load(self, split: str = "train") -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 2 + (split != "train"))
        return self.sample(self.n, generator)

    def labels(self, split: str = "train") -> None:
        return None


class GaussianMixture2D(Toy2D):
    """Equal-weight isotropic Gaussians around `modes`."""

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        which = torch.randint(len(self.modes), (n,), generator=generator)
        return self.modes[which] + self.std * torch.randn(n, 2, generator=generator)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The true log-density of points x (N, 2), in float64: log (1/K) sum_k N(x; mode_k, std^2 I)."""
        x, modes = x.double(), self.modes.to(x.device).double()
        d2 = torch.cdist(x, modes).pow(2)
        log_n = -0.5 * d2 / self.std**2 - math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(log_n, dim=1) - math.log(len(modes))


class Ring8(GaussianMixture2D):
    def __init__(self, radius: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        self.modes = (radius * torch.stack([angles.cos(), angles.sin()], 1)).float()


class Grid25(GaussianMixture2D):
    def __init__(self, spacing: float = 2.0, **kwargs):
        kwargs.setdefault("std", 0.05)
        super().__init__(**kwargs)
        ticks = (torch.arange(5, dtype=torch.float32) - 2) * spacing
        self.modes = torch.cartesian_prod(ticks, ticks)


class Circle(Toy2D):
    """Uniform on a circle (one 1-D hole), optionally with Gaussian noise."""

    def __init__(self, radius: float = 1.0, **kwargs):
        kwargs.setdefault("std", 0.0)
        super().__init__(**kwargs)
        self.radius = float(radius)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        angle = 2 * math.pi * torch.rand(n, generator=generator)
        points = self.radius * torch.stack([angle.cos(), angle.sin()], 1)
        return points + self.std * torch.randn(n, 2, generator=generator)


class SwissRoll(Toy2D):
    """The 2-D swiss roll: t in [1.5 pi, 4.5 pi], (t cos t, t sin t) scaled to about [-2, 2]^2."""

    def __init__(self, **kwargs):
        kwargs.setdefault("std", 0.05)
        super().__init__(**kwargs)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
        points = torch.stack([t * t.cos(), t * t.sin()], 1) / 7.5
        return points + self.std * torch.randn(n, 2, generator=generator)
