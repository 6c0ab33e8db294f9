"""`metrics=[toy_nll]`: the test negative log-likelihood of a model with an evaluable density on a 2D toy whose
true density is known (ring8, grid25), against the floor: the true density's NLL on the same held-out points
(its mean is the data's entropy, the best any model can reach).

What the model exposes decides how its density is evaluated (`density_kind`):
- exact (gmm): `log_prob(x)`, normalized; the metric checks its mass on the grid (`toy_nll/log_z`, ~0);
- quadrature (nce, ebm): `normalized = False`, `unnormalized_log_density(x)` and `log_normalizer` (NCE's learned c,
  or None: an EBM has no normalizer of its own). The normalizer is computed by quadrature, a midpoint rule on a
  `grid` x `grid` lattice over the data's bounding box widened by `margin` (exact enough in 2D: a cell is a fraction
  of a mode's std); mass outside that box is not counted. A learned c is reported beside it;
- estimate (vae, iwae): `log_prob_estimate(x, k, generator)`, the IWAE bound L_k with k importance samples from
  q(z|x) (Burda et al. 2015): a lower bound on log p(x), so `toy_nll/value` is an upper estimate of the NLL.

Keys (nats per point): `toy_nll/value` (headline, lower is better), `toy_nll/floor`, `toy_nll/gap` (value - floor);
exact: `toy_nll/log_z` (log of the model's mass on the grid); quadrature: `toy_nll/c_quadrature`, and with a learned
c also `toy_nll/self_normalized` (NLL with the model's c), `toy_nll/c_model`, `toy_nll/log_z` (c_model - c_quadrature);
estimate: `toy_nll/k`.
"""

from __future__ import annotations

import torch

from genbench.errors import GenbenchError
from genbench.metrics.base import NO_CONTEXT, EvalContext

CHUNK = 65536  # grid points per forward pass
ESTIMATE_ROWS = 2**17  # points x importance samples per decoder pass (a 2D decoder is small)


def density_kind(module) -> str | None:
    """exact | quadrature | estimate: how this module's density is evaluated; None: it has none (GANs)."""
    if module is None:
        return None
    if hasattr(module, "log_prob_estimate"):
        return "estimate"
    if not getattr(module, "normalized", True) and hasattr(module, "unnormalized_log_density"):
        return "quadrature"
    return "exact" if hasattr(module, "log_prob") else None


class ToyNLL:
    name = "toy_nll"
    headline = "toy_nll/value"
    higher_is_better = False
    needs_samples = False

    def __init__(self, n: int = 10000, split: str = "test", grid: int = 512, margin: float = 2.0, k: int = 1000,
                 seed: int = 0, family=None):
        # family: the model families this metric evaluates (the config checks compare it with model.family)
        self.n, self.split, self.grid, self.margin = int(n), split, int(grid), float(margin)
        self.k, self.seed = int(k), int(seed)

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
        if density_kind(module) is None:
            raise GenbenchError("metric toy_nll needs a model with a density (model=gmm, nce, ebm, vae or iwae)")
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
        out: dict[str, float] = {"toy_nll/floor": floor}
        kind = density_kind(module)
        if kind == "exact":
            nll = float(-module.log_prob(x).double().mean())
            out["toy_nll/log_z"] = self.log_mass(module.log_prob, *self.lattice(x))
        elif kind == "estimate":
            generator = torch.Generator(device=module.device).manual_seed(self.seed)
            log_p = module.log_prob_estimate(x.to(module.device), self.k, generator, rows=ESTIMATE_ROWS)
            nll = float(-log_p.double().mean())
            out["toy_nll/k"] = float(self.k)
        else:
            nll = self._quadrature(module, x, out)
        out.update({"toy_nll/value": nll, "toy_nll/gap": nll - floor})
        return out

    def _quadrature(self, module, x: torch.Tensor, out: dict[str, float]) -> float:
        """The NLL of exp(unnormalized) / Z with Z by quadrature; a learned c (if any) reported beside it."""
        unnormalized = module.unnormalized_log_density
        c_quad = -self.log_mass(lambda p: unnormalized(p.to(module.device)), *self.lattice(x))
        mean_u = float(unnormalized(x.to(module.device)).double().mean())
        out["toy_nll/c_quadrature"] = c_quad
        c_model = getattr(module, "log_normalizer", None)
        if c_model is not None:
            c_model = float(c_model)
            out.update({"toy_nll/self_normalized": -(mean_u + c_model), "toy_nll/c_model": c_model,
                        "toy_nll/log_z": c_model - c_quad})
        return -(mean_u + c_quad)
