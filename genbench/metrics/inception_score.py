"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) over the extractor's softmax, on 10 splits
of the samples; reports mean and std over the splits. With `eval.extractor=classifier` the classes are the
dataset's (at most 10 for digits).

Which samples go in which split (`metrics.is.shuffle`):
- false (default): consecutive slices in sampling order, as the authors' code does (openai/improved-gan,
  inception_score/model.py). Generated samples are i.i.d., so no order is favoured.
- true: torch-fidelity's protocol (its default samples_shuffle): the samples are permuted first by
  numpy.random.RandomState(2020).permutation(n), then sliced. On the same logits the two differ by the
  sampling noise of the split means: compare numbers under one protocol.
"""

from __future__ import annotations

import numpy as np
import torch

from genbench.metrics.feature_base import FeatureMetric

TORCH_FIDELITY_SEED = 2020  # torch-fidelity's default rng_seed for the shuffle


def inception_score(logits, splits: int = 10, shuffle: bool = False) -> tuple[float, float]:
    logits = logits if isinstance(logits, torch.Tensor) else torch.as_tensor(np.asarray(logits))
    logp = torch.log_softmax(logits.double(), dim=1)
    n = len(logp)
    if shuffle:
        logp = logp[torch.as_tensor(np.random.RandomState(TORCH_FIDELITY_SEED).permutation(n))]
    splits = max(1, min(splits, n))
    scores = []
    for k in range(splits):
        part = logp[k * n // splits:(k + 1) * n // splits]
        p = part.exp()
        log_marginal = torch.logsumexp(part, dim=0) - np.log(len(part))
        kl = (p * (part - log_marginal)).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))


class InceptionScore(FeatureMetric):
    name = "is"
    headline = "is/mean"
    higher_is_better = True
    needs_logits = True

    def __init__(self, splits: int = 10, shuffle: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.splits, self.shuffle = int(splits), bool(shuffle)

    def score(self, fake: dict, data) -> dict[str, float]:
        if fake.get("logits") is None:
            raise ValueError("the Inception Score needs logits; these Inception weights have no fc layer")
        mean, std = inception_score(fake["logits"], self.splits, self.shuffle)
        return {"is/mean": mean, "is/std": std}
