"""Generator conditioning (Odena et al. 2018, "Is Generator Conditioning Causally Related to GAN Performance?").

One implementation serves the `conditioning` metric and the tests: the Jacobian J = dG(z)/dz of the flattened
output for each z of a batch, the metric tensor J^T J, its eigenvalues (float64 `eigvalsh`) and the condition
number lambda_max / lambda_min. The eigenvalues of J^T J are the squared singular values of J.

When the output has fewer dimensions than z (a 2D toy generator with z_dim 64), J^T J is singular by
construction; the spectrum used is then that of J J^T, i.e. the min(out, z_dim) non-trivial squared singular
values of J, which is the same spectrum whenever out >= z_dim.

Jacobians are computed with the generator in eval mode (BatchNorm uses its running statistics, so each G(z_i)
depends on z_i alone), then its mode is restored. Forward mode (one batched jvp per latent direction,
vectorized with torch.func.vmap) is used when out >= z_dim, reverse mode (per-sample jacrev under vmap)
otherwise: whichever needs fewer passes.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import jacrev, jvp, vmap

from genbench.metrics.base import NO_CONTEXT, EvalContext


def generator_jacobians(generator: nn.Module, z: torch.Tensor, chunk_size: int | None = 16) -> torch.Tensor:
    """(B, out, z_dim) Jacobians of the flattened G(z_i) w.r.t. z_i, G in eval mode (restored afterwards).
    `chunk_size` bounds how many passes vmap runs at once (memory)."""
    was_training = generator.training
    generator.eval()
    try:
        z = z.detach()
        with torch.enable_grad():
            out_dim = generator(z[:1]).flatten(1).shape[1]
            if out_dim >= z.shape[1]:  # forward mode: z_dim jvps, each on the whole batch

                def along(direction):
                    return jvp(lambda zz: generator(zz).flatten(1), (z,), (direction.expand_as(z),))[1]

                basis = torch.eye(z.shape[1], dtype=z.dtype, device=z.device).unsqueeze(1)  # (z_dim, 1, z_dim)
                cols = vmap(along, chunk_size=chunk_size)(basis)  # (z_dim, B, out)
                return cols.permute(1, 2, 0).detach()
            per_sample = jacrev(lambda zi: generator(zi.unsqueeze(0)).flatten())
            return vmap(per_sample, chunk_size=chunk_size)(z).detach()  # (B, out, z_dim)
    finally:
        generator.train(was_training)


def metric_tensor_eigenvalues(jac: torch.Tensor) -> torch.Tensor:
    """(B, k) ascending eigenvalues of J^T J in float64, k = min(out, z_dim) (J J^T when out < z_dim)."""
    j = jac.double()
    gram = j.transpose(1, 2) @ j if j.shape[1] >= j.shape[2] else j @ j.transpose(1, 2)
    return torch.linalg.eigvalsh(gram)


def log_condition_numbers(eigenvalues: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(B,) natural log of lambda_max / lambda_min per sample; lambda_min is floored at eps * lambda_max
    (so the value is at most log(1/eps)), since float32 Jacobians cannot resolve smaller eigenvalues."""
    lam_max = eigenvalues[:, -1]
    lam_min = torch.maximum(eigenvalues[:, 0], eps * lam_max)
    return torch.log(lam_max) - torch.log(lam_min)


def conditioning_stats(generator: nn.Module, z: torch.Tensor, eps: float = 1e-12) -> dict[str, float]:
    """Mean and std over the batch of the log condition number of G's metric tensor at each z."""
    logs = log_condition_numbers(metric_tensor_eigenvalues(generator_jacobians(generator, z)), eps)
    std = float(logs.std()) if len(logs) > 1 else 0.0
    return {"conditioning/log_cond_mean": float(logs.mean()), "conditioning/log_cond_std": std}


class GeneratorConditioning:
    """`metrics=[conditioning]`: mean/std of the log condition number of J^T J at `n_z` latent points (lower is
    better). The points come from a fixed seed, so successive evaluations of a run use the same z. The metric
    reads the generator, not the samples: the Evaluator (and genbench-eval) hand
    it the GANModule in the EvalContext; it uses the module's sampler (the EMA generator when
    there is one)."""

    name = "conditioning"
    headline = "conditioning/log_cond_mean"
    higher_is_better = False

    def __init__(self, n_z: int = 64, eps: float = 1e-12, seed: int = 0):
        self.n_z, self.eps, self.seed = int(n_z), float(eps), int(seed)

    def applies(self, data) -> bool:
        return True

    def __call__(self, samples: torch.Tensor, data, context: EvalContext = NO_CONTEXT) -> dict[str, float]:
        module = context.module
        if module is None:
            raise RuntimeError("the conditioning metric needs the generator: pass EvalContext(module=<GANModule>)")
        z = module.noise(self.n_z, generator=torch.Generator().manual_seed(self.seed))  # N(0, I) for a GAN
        stats = conditioning_stats(module.sampler, z.to(module.device), self.eps)
        return {k: (v if math.isfinite(v) else math.nan) for k, v in stats.items()}
