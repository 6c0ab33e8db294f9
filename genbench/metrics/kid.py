"""Kernel Inception Distance (Binkowski et al. 2018): the unbiased estimator of the squared MMD with the
polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over 100 random subsets of 1000 real and 1000 generated
features (subsets of min(1000, n) when there are fewer samples); reports mean and std over the subsets.

The std is a spread only when the subsets differ. With n <= subset_size on both sides every subset is the whole
sample (the estimator does not depend on order), so all values agree to round-off (~1e-16): then KID is computed
once, `kid/std` is left out of the results, and the log says why (likewise with subsets = 1)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from genbench.metrics.feature_base import FeatureMetric

log = logging.getLogger("genbench")


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                      coef: float = 1.0) -> np.ndarray:
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    base = x @ y.T
    base *= gamma
    base += coef
    out = base.copy()
    for _ in range(degree - 1):
        out *= base
    return out


def mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """U-statistic: the diagonals of K_xx and K_yy are left out."""
    m, n = len(kxx), len(kyy)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(real, fake, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        seed: int = 0) -> tuple[float, float | None]:
    """(mean, std) over the subsets; std is None when the subsets cannot differ (module docstring)."""
    x = np.asarray(real.double().numpy() if isinstance(real, torch.Tensor) else real, np.float64)
    y = np.asarray(fake.double().numpy() if isinstance(fake, torch.Tensor) else fake, np.float64)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("KID needs at least 2 real and 2 generated samples")
    if m == len(x) == len(y):
        subsets = 1  # every subset would be the whole sample: one value, no spread
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        values.append(mmd2_unbiased(polynomial_kernel(a, a, degree), polynomial_kernel(b, b, degree),
                                    polynomial_kernel(a, b, degree)))
    return float(np.mean(values)), (float(np.std(values)) if subsets > 1 else None)


class KID(FeatureMetric):
    name = "kid"
    headline = "kid/mean"
    higher_is_better = False

    def __init__(self, subsets: int = 100, subset_size: int = 1000, degree: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.subsets, self.subset_size, self.degree = int(subsets), int(subset_size), int(degree)
        self._said_why = False  # the reason kid/std is absent is logged once per run

    def score(self, fake: dict, data) -> dict[str, float]:
        real = self.reference(fake, data)
        mean, std = kid(real["pool"], fake["pool"], self.subsets, self.subset_size, self.degree)
        if std is None:
            if self._said_why:
                return {"kid/mean": mean}
            self._said_why = True
            n = len(fake["pool"])
            why = (f"n = {n} <= subset_size {self.subset_size}: every subset is the whole sample"
                   if self.subsets > 1 else "one subset (metrics.kid.subsets=1)")
            log.info("KID: %s, so there is no spread to report; kid/std left out (eval.n > "
                     "metrics.kid.subset_size and subsets > 1 give one)", why)
            return {"kid/mean": mean}
        return {"kid/mean": mean, "kid/std": std}
