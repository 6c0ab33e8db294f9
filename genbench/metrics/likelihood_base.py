"""Shared base of the metrics that read a VAE's encoder and decoder (elbo, nll), or an exact likelihood (nll of an
autoregressive model): held-out images prepared as the likelihood's targets (binarized / dequantized with a fixed
seed, so successive evaluations see the same data), the module in eval mode, no gradients. They ignore generated
samples (`needs_samples = False`)."""

from __future__ import annotations

import torch

from genbench.errors import GenbenchError
from genbench.metrics.base import NO_CONTEXT, EvalContext


class LikelihoodMetric:
    name = "likelihood"
    headline = ""
    higher_is_better = False
    needs_samples = False

    def __init__(self, n: int = 10000, split: str = "test", seed: int = 0, family="vae"):
        # family: the model family this metric evaluates (the config checks compare it with model.family)
        self.n, self.split, self.seed = int(n), split, int(seed)

    def applies(self, data) -> bool:
        return bool(getattr(data.dataset, "is_image", False))

    def targets(self, data, module) -> tuple[torch.Tensor, torch.Generator]:
        """(the first n held-out images as targets on the module's device, the seeded generator used for the
        posterior samples that follow)."""
        exact = self.name == "nll" and getattr(module, "exact_likelihood", False)
        if module is None or not (hasattr(module, "posterior") or exact):
            raise GenbenchError(f"metric {self.name} evaluates VAEs (it reads the encoder q(z|x)); "
                                f"this run's model has none")
        images = data.real_samples(self.n, self.split).to(module.device)
        rng = torch.Generator(device=module.device)
        rng.manual_seed(self.seed)
        return module.likelihood.prepare(images, rng), rng

    def __call__(self, samples, data, context: EvalContext = NO_CONTEXT) -> dict[str, float]:
        module = context.module
        was_training = module.training if module is not None else False
        if module is not None:
            module.eval()
        try:
            with torch.no_grad():
                return self.compute(data, context)
        finally:
            if module is not None:
                module.train(was_training)

    def compute(self, data) -> dict[str, float]:
        raise NotImplementedError
