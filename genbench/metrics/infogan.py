"""How much of InfoGAN's latent codes survives generation (model=infogan only; Chen et al. 2016): Q reads back
the codes of `eval.n` generated samples (drawn from `seed` by the sampler generator, the EMA one when there is
one), and the first categorical code classifies the real test split. `infogan/mi` is the bound
L_I = H(c) - E[-log Q(c | x)] in nats (at most the sum of log K over the categorical codes). The values and
what they mean: docs/gan-methods.md, "InfoGAN". Not a sample-quality measure, so never the automatic
`eval.monitor`."""

from __future__ import annotations

import torch

from genbench.errors import GenbenchError
from genbench.metrics.base import NO_CONTEXT, EvalContext


class InfoGANCodes:
    name = "infogan"
    headline = "infogan/q_accuracy"
    higher_is_better = True
    auto_monitor = False  # diagnostic: checkpoints/best.ckpt follows another metric unless eval.monitor names it

    def __init__(self, seed: int = 0):
        self.seed = int(seed)
        self._test: tuple[torch.Tensor, torch.Tensor] | None = None  # labelled test images, read once

    def applies(self, data) -> bool:
        return True

    def __call__(self, samples: torch.Tensor, data, context: EvalContext = NO_CONTEXT) -> dict[str, float]:
        module = context.module
        if module is None or not hasattr(module, "codes"):
            raise GenbenchError("metrics=[infogan] reads InfoGAN's latent codes and Q: use it with model=infogan")
        codes = module.codes
        n = len(samples)
        z = module.noise(n, generator=torch.Generator().manual_seed(self.seed))
        q = module.recognize(module.sample(n, z)).cpu()
        c = module.code_part(z).cpu()
        ce, nll = codes.cross_entropy(q, c)
        out = {"infogan/mi": codes.entropy - float(ce + nll)}
        if codes.categorical:
            out["infogan/q_accuracy"] = float(codes.accuracy(q, c))
        if codes.continuous:
            mean = codes.split(q)[1][:, :codes.continuous]
            truth = codes.split(c)[1]
            out["infogan/cont_mse"] = float(((mean - truth) ** 2).mean())
            corr = [torch.corrcoef(torch.stack([mean[:, j], truth[:, j]]))[0, 1] for j in range(codes.continuous)]
            out["infogan/cont_corr"] = float(torch.stack(corr).nan_to_num(0.0).mean())
        if codes.categorical and self._labelled(data, n) is not None:
            out["infogan/real_accuracy"] = self._real_accuracy(module, data, n)
        return out

    def _labelled(self, data, n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(images, labels): the first n of the test split, read once; None for unlabelled data."""
        if self._test is None or len(self._test[0]) != n:
            labels = data.dataset.labels("test") if data.is_image else None
            self._test = None if labels is None else (data.dataset.load("test")[:n], labels[:n])
        return self._test

    def _real_accuracy(self, module, data, n: int) -> float:
        """The first categorical code as a classifier of real test images, categories matched to labels."""
        images, labels = self._labelled(data, n)
        q = module.recognize(module.to_model_space(images)).cpu()
        predicted = module.codes.split(q)[0][0].argmax(1)
        return matched_accuracy(predicted, labels, module.codes.categorical[0])


def matched_accuracy(predicted: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Accuracy of cluster ids `predicted` (0..k-1) against `labels` under the one-to-one matching of clusters to
    labels that maximizes it (clusters left unmatched when k exceeds the number of labels count as wrong)."""
    from scipy.optimize import linear_sum_assignment

    n_labels = int(labels.max()) + 1
    counts = torch.zeros(k, n_labels, dtype=torch.long)
    counts.index_put_((predicted.long(), labels.long()), torch.ones_like(labels, dtype=torch.long), accumulate=True)
    rows, cols = linear_sum_assignment(counts.numpy(), maximize=True)
    return float(counts[rows, cols].sum()) / max(1, len(labels))
