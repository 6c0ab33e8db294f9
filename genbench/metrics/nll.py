"""`metrics=[nll]`: the test negative log-likelihood of a VAE, -log p(x) estimated with `k` importance samples
from q(z|x) (the IWAE bound L_k, Burda et al. 2015; k = 5000 is the literature's protocol), on `n` held-out
images, in nats per image. Batched: one forward pass decodes at most `rows` (images x samples) latents, so
k = 5000 fits in memory; the estimate does not depend on `rows`.

A model with an exact, normalized density on images (model=gmm, e.g. Bernoulli components on binarized MNIST;
model=pixelcnn) is scored exactly on the same held-out images, prepared the same way (`nll/k` is 0 then): the
VAEs' protocol, one table for the tractable families; at most `rows` images (and the module's `eval_batch`) a pass.

Keys: `nll/value` (headline, lower is better), `nll/std_err` (standard error over the images), `nll/bits_per_dim`
(value / (pixels x ln 2)), `nll/k`, `nll/n`. L_k is a lower bound on log p(x) that tightens with k, so the
reported NLL is an upper estimate, slightly above the true one.
"""

from __future__ import annotations

import math

import torch

from genbench.metrics.base import EvalContext
from genbench.metrics.likelihood_base import LikelihoodMetric
from genbench.vae.bounds import importance_sampled_log_likelihood


class ImportanceSampledNLL(LikelihoodMetric):
    name = "nll"
    headline = "nll/value"
    higher_is_better = False

    def __init__(self, k: int = 5000, n: int = 10000, rows: int = 2000, split: str = "test", seed: int = 0,
                 family=("vae", "gmm")):
        super().__init__(n, split, seed, family)
        self.k, self.rows = int(k), int(rows)

    def compute(self, data, context: EvalContext) -> dict[str, float]:
        module = context.module
        exact = not hasattr(module, "posterior") and getattr(module, "normalized", False) \
            and hasattr(module, "log_density")
        if exact:
            target, log_px = self.exact(data, module)
        else:
            target, rng = self.targets(data, module)
            log_px = importance_sampled_log_likelihood(module, target, self.k, self.rows, rng).double()
        nll = float(-log_px.mean())
        std_err = float(log_px.std() / math.sqrt(len(log_px))) if len(log_px) > 1 else math.nan
        dims = math.prod(target.shape[1:])
        return {"nll/value": nll, "nll/std_err": std_err, "nll/bits_per_dim": nll / (dims * math.log(2)),
                "nll/k": 0.0 if exact else float(self.k), "nll/n": float(len(log_px))}

    def exact(self, data, module) -> tuple[torch.Tensor, torch.Tensor]:
        """(the held-out images, their exact log p) for a normalized density (genbench.density.module): binarized
        or dequantized from `seed` as the VAEs' targets are, in nats per image."""
        images = data.real_samples(self.n, self.split)
        rng = torch.Generator().manual_seed(self.seed)
        points = module.prepare(images.cpu(), rng).to(module.device)
        per_pass = min(self.rows, getattr(module, "eval_batch", self.rows))
        log_p = torch.cat([module.log_density(x) for x in points.split(per_pass)]).double()
        return images, (log_p + module.log_prob_offset).cpu()
