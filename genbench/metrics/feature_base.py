"""Shared base of the feature metrics (FID, KID, IS, PRDC): the feature bank, the reference features, `applies`."""

from __future__ import annotations

import torch

from genbench.features import get_bank
from genbench.metrics.base import NO_CONTEXT, EvalContext


class FeatureMetric:
    name = "feature"
    headline = ""
    higher_is_better = False
    needs_logits = False

    def __init__(self, extractor: str = "inception", weights: str | None = None, cache_dir: str | None = None,
                 split: str = "train", classifier: dict | None = None):
        self.extractor, self.split = extractor, split
        self.bank = get_bank(extractor, cache_dir=cache_dir, weights=weights,
                             classifier=dict(classifier) if classifier else None, split=split)

    def applies(self, data) -> bool:
        """Images only."""
        return bool(getattr(data.dataset, "is_image", False))

    def prepare(self, data) -> None:
        """Builds the extractor before training, so a missing weight file or an extractor without logits for IS
        fails at once rather than at the first evaluation."""
        extractor = self.bank.extractor(data)
        if self.needs_logits and not extractor.has_logits:
            raise ValueError(
                f"metric {self.name}: the {self.extractor} weights have no logits layer (fc), so the Inception Score "
                "cannot be computed (a pool3-only file serves FID/KID/PRDC). Pass the full "
                "pt_inception-2015-12-05-6726825d.pth with eval.inception.weights=<path>, or use "
                "eval.extractor=classifier.")
        return True

    def __call__(self, samples: torch.Tensor, data, context: EvalContext = NO_CONTEXT) -> dict[str, float]:
        return self.score(self.bank.features(samples, data), data)

    def score(self, fake: dict, data) -> dict[str, float]:
        """The metric from the generated samples' features (`fake`: pool, logits; gathered from every rank under
        DDP), against real reference features of the same count where it compares."""
        raise NotImplementedError

    def reference(self, fake: dict, data) -> dict:
        """Real reference features, as many as there are generated ones."""
        n = len(next(v for v in fake.values() if v is not None))
        return self.bank.reference(data, n)
