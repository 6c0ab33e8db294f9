"""Jacobian clamping (Odena et al. 2018), a generator penalty: for z and z + eps*v (v a random unit vector per
sample), Q = ||G(z) - G(z + eps v)|| / ||eps v|| estimates ||J v||, a square root of an eigenvalue of the metric
tensor J^T J in the limit eps -> 0; the penalty mean[(max(Q, lambda_max) - lambda_max)^2
+ (min(Q, lambda_min) - lambda_min)^2] pushes Q into [lambda_min, lambda_max] (Q itself, not its square, is
compared with the lambdas), which bounds the condition number of the generator.
Defaults are the paper's (Sec. 5): lambda_min 1, lambda_max 20, eps 1 (the perturbation's norm;
z ~ N(0, I) has norm about sqrt(z_dim))."""

from __future__ import annotations

import torch

from genbench.parallel import distributed
from genbench.regs.base import Regularizer


class JacobianClamp(Regularizer):
    name = "jacobian_clamp"

    def __init__(self, weight: float = 1.0, lambda_min: float = 1.0, lambda_max: float = 20.0, eps: float = 1.0):
        if not 0 <= lambda_min <= lambda_max:
            raise ValueError(f"jacobian_clamp: need 0 <= lambda_min <= lambda_max, got {lambda_min}, {lambda_max}")
        if eps <= 0:
            raise ValueError(f"jacobian_clamp: eps must be > 0, got {eps}")
        self.weight, self.eps = float(weight), float(eps)
        self.lambda_min, self.lambda_max = float(lambda_min), float(lambda_max)

    def quotients(self, generator, z: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """(B,) Q per sample, fake = generator(z)."""
        v = distributed.randn_like(z)
        v = v / torch.linalg.vector_norm(v, dim=1, keepdim=True)
        moved = generator(z + self.eps * v)
        return torch.linalg.vector_norm((fake - moved).flatten(1), dim=1) / self.eps

    def penalty_from(self, q: torch.Tensor) -> torch.Tensor:
        above = (q.clamp(min=self.lambda_max) - self.lambda_max).pow(2)
        below = (q.clamp(max=self.lambda_min) - self.lambda_min).pow(2)
        return (above + below).mean()

    def g_penalty(self, generator, z, fake, step):
        return self.weight * self.penalty_from(self.quotients(generator, z, fake))
