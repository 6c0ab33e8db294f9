"""Fréchet Inception Distance (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to the
features of real and generated images, FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

Statistics in float64; the matrix square root is scipy's `sqrtm`, with the usual guards: a small diagonal
offset when the product is singular, the real part when rounding leaves a tiny imaginary part. FID is
biased by the sample count n: compare numbers at equal n only (metrics.json states n). A covariance needs at
least 2 samples: with 1, numpy returns NaN and scipy's `sqrtm` of it fails only after seconds (d = 64) or never
returns (d = 2048), so fewer than 2 rows or non-finite statistics raise ValueError at once (and `eval.n` < 2
is refused with the config, genbench/runs/config_checks.py).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.linalg
import torch

from genbench.metrics.feature_base import FeatureMetric

log = logging.getLogger("genbench")


MIN_SAMPLES = 2  # a sample covariance needs two rows


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features.double().numpy() if isinstance(features, torch.Tensor) else features, dtype=np.float64)
    if x.ndim != 2 or len(x) < MIN_SAMPLES:
        raise ValueError(f"FID needs at least {MIN_SAMPLES} feature rows to fit a covariance; got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"shapes differ: {mu1.shape} vs {mu2.shape}, {sigma1.shape} vs {sigma2.shape}")
    if not all(np.isfinite(v).all() for v in (mu1, mu2, sigma1, sigma2)):
        raise ValueError("FID of non-finite statistics (NaN or inf in a mean or covariance): sqrtm would not "
                         "return a meaningful value; check the features and that each set has at least 2 rows")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular products are handled below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        log.warning("FID: singular product of covariances; adding %g to the diagonals", eps)
        offset = np.eye(sigma1.shape[0]) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3 * max(1.0, np.abs(covmean).max())):
            log.warning("FID: sqrtm has a large imaginary part %.3g; using the real part",
                        np.abs(covmean.imag).max())
        covmean = covmean.real
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
    return max(value, 0.0)


def fid_from_features(a, b) -> float:
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


class FID(FeatureMetric):
    name = "fid"
    headline = "fid/value"
    higher_is_better = False

    def score(self, fake: dict, data) -> dict[str, float]:
        real = self.reference(fake, data)
        if "mu" not in real:  # fitted once per reference and kept with it in memory
            real["mu"], real["sigma"] = gaussian_stats(real["pool"])
        return {"fid/value": frechet_distance(*gaussian_stats(fake["pool"]), real["mu"], real["sigma"])}
