"""`metrics=[toy_nll]`: the test negative log-likelihood of a model with an evaluable density on a 2D toy whose
true density is known (ring8, grid25), against the floor: the true density's NLL on the same held-out points
(its mean is the data's entropy, the best any model can reach).

The model exposes `log_prob(x)` on 2D points. Normalized models (gmm) are scored exactly; for a self-normalized one
(nce: `unnormalized_log_density(x)` plus its learned log-normalizer `log_normalizer`) the normalizer is computed
by quadrature, a midpoint rule on a `grid` x `grid` lattice over the data's bounding box widened by `margin`
(exact enough in 2D: a cell is a fraction of a mode's std), and the model's own c is reported beside it.

Keys (nats per point): `toy_nll/value` (headline, lower is better; quadrature-normalized for nce), `toy_nll/floor`,
`toy_nll/gap` (value - floor), `toy_nll/log_z` (log of the model's total mass on the grid: 0 when normalized);
nce only: `toy_nll/self_normalized` (NLL with the model's c), `toy_nll/c_model`, `toy_nll/c_quadrature`.
"""

from __future__ import annotations

import torch

from genbench.errors import GenbenchError
from genbench.metrics.base import NO_CONTEXT, EvalContext

CHUNK = 65536  # grid points per forward pass


class ToyNLL:
    name = "toy_nll"
    headline = "toy_nll/value"
    higher_is_better = False
    needs_samples = False

    def __init__(self, n: int = 10000, split: str = "test", grid: int = 512, margin: float = 2.0, family=None):
        # family: the model families this metric evaluates (the config checks compare it with model.family)
        self.n, self.split, self.grid, self.margin = int(n), split, int(grid), float(margin)

    def applies(self, data) -> bool:
        return tuple(data.shape) == (2,) and hasattr(data.dataset, "log_prob")

    def lattice(self, points: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(grid^2, 2) cell centres over the widened bounding box of `points`, and log(cell area)."""
        low, high = points.min(0).values - self.margin, points.max(0).values + self.margin
        step = (high - low) / self.grid
        axes = [low[i] + step[i] * (torch.arange(self.grid, dtype=points.dtype) + 0.5) for i in range(2)]
        return torch.cartesian_prod(*axes), float(step.log().sum())

    def log_mass(self, fn, grid: torch.Tensor, log_cell: float) -> float:
        """log of the integral of exp(fn) over the lattice."""
        values = torch.cat([fn(chunk).double().cpu() for chunk in grid.split(CHUNK)])
        return float(torch.logsumexp(values, 0)) + log_cell

    def __call__(self, samples, data, context: EvalContext = NO_CONTEXT) -> dict[str, float]:
        module = context.module
        if module is None or not hasattr(module, "log_prob"):
            raise GenbenchError("metric toy_nll needs a model with a density (model=gmm or model=nce)")
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                return self.compute(module, data)
        finally:
            module.train(was_training)

    def compute(self, module, data) -> dict[str, float]:
        x = data.real_samples(self.n, self.split).float().cpu()
        floor = float(-data.dataset.log_prob(x).mean())
        grid, log_cell = self.lattice(x)
        out: dict[str, float] = {"toy_nll/floor": floor}
        if getattr(module, "normalized", True):
            nll = float(-module.log_prob(x).double().mean())
            out["toy_nll/log_z"] = self.log_mass(module.log_prob, grid, log_cell)
        else:
            unnormalized = module.unnormalized_log_density
            c_model = float(module.log_normalizer)
            c_quad = -self.log_mass(lambda p: unnormalized(p.to(module.device)), grid, log_cell)
            mean_u = float(unnormalized(x.to(module.device)).double().mean())
            nll = -(mean_u + c_quad)
            out.update({"toy_nll/self_normalized": -(mean_u + c_model), "toy_nll/c_model": c_model,
                        "toy_nll/c_quadrature": c_quad, "toy_nll/log_z": c_model - c_quad})
        out.update({"toy_nll/value": nll, "toy_nll/gap": nll - floor})
        return out
