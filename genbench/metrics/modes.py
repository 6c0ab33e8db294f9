"""Mode coverage on 2D Gaussian mixtures (ring8, grid25), the protocol of the mode-collapse literature
(Metz et al. 2017; Srivastava et al. 2017; Lin et al. 2018): a sample is high quality when it lies
within `sigmas` standard deviations of its nearest mode; a mode is covered when at least `min_count`
high-quality samples fall on it."""

from __future__ import annotations

import torch

from genbench.metrics.base import NO_CONTEXT, EvalContext


class ModeCoverage:
    name = "modes"
    headline = "modes/hq_fraction"
    higher_is_better = True

    def __init__(self, sigmas: float = 3.0, min_count: int = 20):
        self.sigmas, self.min_count = float(sigmas), int(min_count)

    def applies(self, data) -> bool:
        return getattr(data.dataset, "modes", None) is not None

    def __call__(self, samples: torch.Tensor, data, context: EvalContext = NO_CONTEXT) -> dict[str, float]:
        samples = samples.float()
        modes = data.dataset.modes.to(samples)
        dist = torch.cdist(samples, modes)
        nearest_dist, nearest = dist.min(dim=1)
        good = nearest_dist <= self.sigmas * data.dataset.std
        counts = torch.bincount(nearest[good], minlength=len(modes))
        return {
            "modes/covered": float((counts >= self.min_count).sum()),
            "modes/hq_fraction": float(good.float().mean()),
        }
