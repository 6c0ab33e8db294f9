"""`metrics=[nll]`: the test negative log-likelihood of a VAE, -log p(x) estimated with `k` importance samples
from q(z|x) (the IWAE bound L_k, Burda et al. 2015; k = 5000 is the literature's protocol), on `n` held-out
images, in nats per image. Batched: one forward pass decodes at most `rows` (images x samples) latents, so
k = 5000 fits in memory; the estimate does not depend on `rows`.

Keys: `nll/value` (headline, lower is better), `nll/std_err` (standard error over the images), `nll/bits_per_dim`
(value / (pixels x ln 2)), `nll/k`, `nll/n`. L_k is a lower bound on log p(x) that tightens with k, so the
reported NLL is an upper estimate, slightly above the true one.

A model with an exact likelihood (`exact_likelihood`: the autoregressive family) gets -log p(x) itself on the same
targets (no importance samples: no `nll/k`), at most `rows` images (and the module's `eval_batch`) per pass.
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
                 family="vae"):
        super().__init__(n, split, seed, family)
        self.k, self.rows = int(k), int(rows)

    def compute(self, data, context: EvalContext) -> dict[str, float]:
        module = context.module
        target, rng = self.targets(data, module)
        exact = getattr(module, "exact_likelihood", False)
        if exact:
            chunks = target.split(min(self.rows, getattr(module, "eval_batch", self.rows)))
            log_px = torch.cat([module.log_likelihood(chunk) for chunk in chunks]).double()
        else:
            log_px = importance_sampled_log_likelihood(module, target, self.k, self.rows, rng).double()
        nll = float(-log_px.mean())
        std_err = float(log_px.std() / math.sqrt(len(log_px))) if len(log_px) > 1 else math.nan
        dims = math.prod(target.shape[1:])
        out = {"nll/value": nll, "nll/std_err": std_err, "nll/bits_per_dim": nll / (dims * math.log(2)),
               "nll/k": float(self.k), "nll/n": float(len(log_px))}
        if exact:
            del out["nll/k"]
        return out
