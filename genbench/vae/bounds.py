"""Bounds on log p(x) for a latent-variable model with prior p(z) = N(0, I) and a diagonal Gaussian
posterior q(z|x) = N(mu, diag(exp(logvar))).

With z_1..z_k drawn from q(z|x) and log weights log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x):
- rate R = KL(q(z|x) || p(z)), in closed form: 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2);
- distortion D = -E_q log p(x|z), estimated by the mean over the k samples;
- ELBO = -(D + R) <= log p(x), with equality when q(z|x) is the true posterior p(z|x) (Kingma & Welling 2013);
  beta-VAE minimizes D + beta R (Higgins et al. 2017; Alemi et al. 2018 read it as a point on the R-D plane);
- IWAE bound L_k = E[log (1/k) sum_i w_i], with L_1 = ELBO <= L_k <= L_{k+1} -> log p(x) as k grows
  (Burda et al. 2015); the test log-likelihood is L_k for a large k (5000), computed in chunks here.
All values are in nats per example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch

from genbench.parallel import distributed
from genbench.progress import Stage
from genbench.vae.memory import release_freed_memory

LOG_2PI = math.log(2 * math.pi)
TRIM_EVERY = 16  # image batches of the NLL (one image each when k >= rows) between releases of freed memory


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension (same shape as mu)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def log_mean_exp(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    return torch.logsumexp(x, dim) - math.log(x.shape[dim])


@dataclass
class Terms:
    """One pass of k posterior samples for a batch of B examples. The densities of z are computed when first
    asked for (the ELBO's step needs only log p(x|z) and the closed-form KL)."""

    log_px: torch.Tensor  # (k, B) log p(x | z_i)
    z: torch.Tensor       # (k, B, z_dim) the samples z_i ~ q(z|x)
    mu: torch.Tensor      # (B, z_dim) the posterior's means
    logvar: torch.Tensor  # (B, z_dim) and log-variances

    @cached_property
    def kl(self) -> torch.Tensor:
        """(B, z_dim) closed-form KL(q(z|x) || p(z)) per latent dimension."""
        return gaussian_kl(self.mu, self.logvar)

    @cached_property
    def log_pz(self) -> torch.Tensor:
        """(k, B) log p(z_i)."""
        return log_standard_normal(self.z)

    @cached_property
    def log_qz(self) -> torch.Tensor:
        """(k, B) log q(z_i | x)."""
        return log_normal(self.z, self.mu, self.logvar)

    @property
    def rate(self) -> torch.Tensor:
        """(B,) R = KL(q(z|x) || p(z))."""
        return self.kl.sum(-1)

    @property
    def distortion(self) -> torch.Tensor:
        """(B,) D = -E_q log p(x|z), the mean over the k samples."""
        return -self.log_px.mean(0)

    @property
    def log_weights(self) -> torch.Tensor:
        """(k, B) log p(x, z_i) - log q(z_i | x)."""
        return self.log_px + self.log_pz - self.log_qz

    def iwae(self) -> torch.Tensor:
        """(B,) the IWAE bound L_k for this k (the single-sample ELBO estimate when k = 1)."""
        return log_mean_exp(self.log_weights, 0)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, k: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """(k, B, z_dim) samples z = mu + sigma * eps from q(z|x). In training (no `generator`) eps is this rank's rows
    of one draw for the global batch (genbench/parallel/distributed.py)."""
    if generator is None:
        eps = distributed.local_rows(
            lambda n: torch.randn((n, k, *mu.shape[1:]), device=mu.device, dtype=mu.dtype), len(mu)).transpose(0, 1)
    else:
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


@torch.no_grad()
def importance_sampled_log_likelihood(model, target: torch.Tensor, k: int, rows: int = 2000,
                                      generator: torch.Generator | None = None) -> torch.Tensor:
    """(B,) log p(x) estimated with k importance samples from q(z|x) (the IWAE bound L_k), batched so that
    one forward pass decodes at most `rows` (images x samples) latent vectors: memory stays bounded for
    k = 5000. `model` provides `posterior(x) -> (mu, logvar)` and `terms(x, k, generator, posterior)`."""
    chunk = max(1, min(k, rows))
    per_forward = max(1, rows // chunk)
    out = []
    with Stage(f"NLL (k = {k})", total=len(target), unit="images") as stage:
        for i, x in enumerate(target.split(per_forward)):
            posterior = model.posterior(x)
            log_w = [model.terms(x, min(chunk, k - done), generator, posterior).log_weights
                     for done in range(0, k, chunk)]
            out.append(torch.logsumexp(torch.cat(log_w), 0) - math.log(k))
            if i % TRIM_EVERY == TRIM_EVERY - 1:
                release_freed_memory()  # repeated ~30 MB passes fragment glibc's heap (genbench/vae/memory.py)
            stage.advance(len(x))
    return torch.cat(out)
