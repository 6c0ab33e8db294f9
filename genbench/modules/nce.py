"""NCEModule (`model=nce`): noise-contrastive estimation (Gutmann & Hyvarinen 2010; the seed's section on NCE).

A logistic classifier D(x) = sigmoid(log p_m(x) - log q(x) - log nu) tells data from nu times as many draws of a
fixed noise model q (fitted to the data once, before the first step); at the optimum p_m = p, so the learned c
in log p_m is the log-normalizer (the seed's eq. 1.36). Samples by sampling-importance-resampling from q, its
effective sample size logged (`sir/ess_fraction`, `sir/max_weight`) so that its weakness is measured, not hidden.
Logged besides: loss/nce, train/d_data, train/d_noise, train/accuracy, train/c, train/nll, grad_norm/nce.
The parametrizations, options and measured runs: docs/mixtures-nce.md."""

from __future__ import annotations

import math

import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn import functional as F

from genbench.density.mixture import GaussianMixture
from genbench.density.module import DensityModule
from genbench.modules.base import grad_norm
from genbench.modules.optim import make_optimizer

ESS_ROWS = 64  # SIR draws whose effective sample size is logged at each log point


def nce_loss(g_data: torch.Tensor, g_noise: torch.Tensor) -> torch.Tensor:
    """NCE's logistic loss on G = log p_m - log q - log nu: -E_data log D - nu E_noise log(1 - D)
    (the noise term is a mean over nu times as many draws, so nu * mean = the sum over nu draws per datum)."""
    nu = len(g_noise) / len(g_data)
    return F.softplus(-g_data).mean() + nu * F.softplus(g_noise).mean()


def mlp(dim: int, hidden: list[int]) -> nn.Sequential:
    """dim -> hidden... -> 1 with SiLU; the last layer starts at zero (f = 0: p_m starts at q e^c)."""
    layers, width = [], dim
    for h in hidden:
        layers += [nn.Linear(width, h), nn.SiLU()]
        width = h
    last = nn.Linear(width, 1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


class Quadratic(nn.Module):
    """-|A (x - b)|^2 / 2 with A lower-triangular (an unnormalized Gaussian, precision A^T A)."""

    def __init__(self, dim: int):
        super().__init__()
        self.a = nn.Parameter(torch.eye(dim))
        self.b = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -0.5 * ((x - self.b) @ torch.tril(self.a).T).pow(2).sum(-1, keepdim=True)

    def log_normalizer(self) -> torch.Tensor:
        """The c that normalizes exp(forward): -(D/2) log 2 pi + log |det A|."""
        a = torch.tril(self.a)
        return -0.5 * len(a) * math.log(2 * math.pi) + a.diagonal().abs().log().sum()


class NCEDensity(nn.Module):
    """log p_m(x) = [log q(x)] + net(x) + c, q fixed."""

    def __init__(self, noise: GaussianMixture, net: nn.Module, parametrization: str):
        super().__init__()
        self.noise, self.net, self.parametrization = noise, net, parametrization
        self.c = nn.Parameter(torch.zeros(()))
        self.noise.requires_grad_(False)

    def unnormalized(self, x: torch.Tensor) -> torch.Tensor:
        """log p_m(x) - c."""
        out = self.net(x).squeeze(-1)
        if self.parametrization == "ratio":
            return self.noise.log_prob(x) + out
        return -out if self.parametrization == "energy" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unnormalized(x) + self.c


class SIRSampler(nn.Module):
    """Seeds (n, 1) -> n model-space samples, each chosen among `proposals` draws from q with probability
    proportional to p_m/q. The draws come from a generator seeded by the row's seed, so a seed is one sample."""

    def __init__(self, density: NCEDensity, proposals: int, to_samples, stats: dict):
        super().__init__()
        self.density, self.proposals, self._to_samples, self._stats = density, proposals, to_samples, stats

    def forward(self, seeds: torch.Tensor) -> torch.Tensor:
        q, m, device = self.density.noise, self.proposals, self.density.c.device
        draws, picks = [], []
        for seed in seeds.view(-1).tolist():
            g = torch.Generator().manual_seed(int(seed))
            draws.append(q.noise(m, g))
            picks.append(torch.rand((), generator=g))
        z = torch.stack(draws).to(device)  # (n, m, D + 1)
        points = q.sample(z.flatten(0, 1))
        log_w = (self.density(points) - q.log_prob(points)).view(len(seeds), m)
        w = torch.softmax(log_w, 1)
        cdf = w.cumsum(1)
        u = torch.stack(picks).to(device).unsqueeze(1) * cdf[:, -1:]
        index = torch.searchsorted(cdf, u).clamp(max=m - 1)
        chosen = points.view(len(seeds), m, -1).gather(1, index.unsqueeze(-1).expand(-1, 1, points.shape[-1]))
        self._stats["ess_fraction"] = (1.0 / w.pow(2).sum(1) / m).mean()
        self._stats["max_weight"] = w.max(1).values.mean()
        return self._to_samples(chosen.squeeze(1))


class NCEModule(DensityModule):
    normalized = False

    def __init__(self, shape: tuple[int, ...], *, parametrization: str, hidden: list[int], noise: dict, nu: int,
                 proposals: int, image_data: str, opt: dict, max_steps: int, log_every: int, seed: int = 0):
        dim = int(torch.Size(shape).numel())
        super().__init__(shape, image_data=image_data, z_dim=1, max_steps=max_steps, log_every=log_every, seed=seed)
        k = 1 if noise["name"] == "gaussian" else int(noise["components"])
        q = GaussianMixture(k, dim, noise.get("covariance", "full"), float(noise.get("min_std", 1e-3)))
        net = Quadratic(dim) if parametrization == "quadratic" else mlp(dim, list(hidden))
        self.density = NCEDensity(q, net, parametrization)
        self.noise_cfg, self.nu, self.proposals, self.opt_cfg = dict(noise), int(nu), int(proposals), dict(opt)
        self.sir_stats: dict[str, torch.Tensor] = {}

    def configure_optimizers(self):
        return make_optimizer(self.opt_cfg, [p for p in self.parameters() if p.requires_grad])

    # ----------------------------------------------------------------- the fixed noise model
    @torch.no_grad()
    def init_from_data(self, points, generator) -> None:
        """Fit q to the training points: one EM step from any start is the Gaussian's maximum likelihood."""
        q = self.density.noise
        q.init_from_data(points, generator)
        for _ in range(1 if q.k == 1 else int(self.noise_cfg.get("em_iters", 50))):
            q.m_step(q.em_statistics(points))

    # ----------------------------------------------------------------- densities and samples
    @property
    def log_normalizer(self) -> float:
        """The learned c (compared with a quadrature normalizer by metrics=[toy_nll])."""
        return float(self.density.c)

    def log_density(self, points: torch.Tensor) -> torch.Tensor:
        return self.density(points)

    def unnormalized_log_density(self, points: torch.Tensor) -> torch.Tensor:
        return self.density.unnormalized(points)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """One seed per sample (each seeds that sample's SIR proposals)."""
        return torch.randint(0, 2**62, (n, 1), generator=generator,
                             device=generator.device if generator is not None else self.device)

    @property
    def sampler(self) -> nn.Module:
        return SIRSampler(self.density, self.proposals, self.to_samples, self.sir_stats)

    # ----------------------------------------------------------------- training
    def train_batch(self, batch) -> None:
        opt = self.optimizers()
        x = self.prepare(batch)
        q = self.density.noise
        with torch.no_grad():
            y = q.sample(q.noise(self.nu * len(x), device=self.device))
        log_nu = math.log(self.nu)
        log_p_data = self.density(x)
        g_data = log_p_data - q.log_prob(x) - log_nu
        g_noise = self.density(y) - q.log_prob(y) - log_nu
        loss = nce_loss(g_data, g_noise)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        log_point = (self.g_step + 1) % self.log_every == 0
        if log_point:
            self._track("grad_norm/nce", grad_norm(self))
        opt.step()
        with torch.no_grad():
            self._track("loss/nce", loss)
            self._track("train/d_data", torch.sigmoid(g_data).mean())
            self._track("train/d_noise", torch.sigmoid(g_noise).mean())
            self._track("train/accuracy", ((g_data > 0).float().sum() + (g_noise <= 0).float().sum())
                        / (len(g_data) + len(g_noise)))
            self._track("train/c", self.density.c)
            self._nll_stats(log_p_data)
            if log_point:
                self._sir_diagnostics()
        self.g_step += 1
        self.stepped_generator = True
        self._log_and_stop()

    def _sir_diagnostics(self) -> None:
        seeds = torch.arange(ESS_ROWS).add_(self.seed * 1_000_003 + self.g_step * ESS_ROWS).unsqueeze(1)
        self.sampler(seeds)
        self._track("sir/ess_fraction", self.sir_stats["ess_fraction"])
        self._track("sir/max_weight", self.sir_stats["max_weight"])


def build(cfg, shape: tuple[int, ...]) -> NCEModule:
    m = cfg.model
    return NCEModule(shape, parametrization=m.parametrization, hidden=list(m.hidden),
                     noise=OmegaConf.to_container(m.noise), nu=m.nu, proposals=m.sir.proposals,
                     image_data=m.image_data, opt=OmegaConf.to_container(m.opt), max_steps=cfg.train.max_steps,
                     log_every=cfg.train.log_every, seed=cfg.seed)
