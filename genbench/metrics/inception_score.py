"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) over the extractor's softmax,
computed on 10 consecutive splits of the samples; reports mean and std over the splits (torch-fidelity's
protocol). With `eval.extractor=classifier` the classes are the dataset's (at most 10 for digits)."""

from __future__ import annotations

import numpy as np
import torch

from genbench.metrics.feature_base import FeatureMetric


def inception_score(logits, splits: int = 10) -> tuple[float, float]:
    logits = logits if isinstance(logits, torch.Tensor) else torch.as_tensor(np.asarray(logits))
    logp = torch.log_softmax(logits.double(), dim=1)
    n = len(logp)
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

    def __init__(self, splits: int = 10, **kwargs):
        super().__init__(**kwargs)
        self.splits = int(splits)

    def score(self, fake: dict, data) -> dict[str, float]:
        if fake.get("logits") is None:
            raise ValueError("the Inception Score needs logits; these Inception weights have no fc layer")
        mean, std = inception_score(fake["logits"], self.splits)
        return {"is/mean": mean, "is/std": std}
