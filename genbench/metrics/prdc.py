"""Improved precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020),
from k-nearest-neighbour balls in feature space.

- precision: fraction of generated samples inside some real sample's k-NN ball (k = 3);
- recall: fraction of real samples inside some generated sample's k-NN ball (k = 3);
- density: mean count of real k-NN balls holding each generated sample, divided by k (k = 5; can exceed 1);
- coverage: fraction of real samples whose k-NN ball holds a generated sample (k = 5).
k = 3 is Kynkäänniemi et al.'s choice; Naeem et al. use k = 5 for density and coverage. Distances in float64.
"""

from __future__ import annotations

import torch

from genbench.metrics.feature_base import FeatureMetric

_CHUNK = 1024


def _as64(x) -> torch.Tensor:
    return (x if isinstance(x, torch.Tensor) else torch.as_tensor(x)).double()


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row."""
    out = []
    for s in range(0, len(x), _CHUNK):
        d = torch.cdist(x[s:s + _CHUNK], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # the 1st is the point itself (distance 0)
    return torch.cat(out)


def _inside_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, how many balls (centres, radii) hold it."""
    out = []
    for s in range(0, len(points), _CHUNK):
        d = torch.cdist(points[s:s + _CHUNK], centres)
        out.append((d <= radii[None, :]).sum(dim=1))
    return torch.cat(out)


def prdc(real, fake, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    real, fake = _as64(real), _as64(fake)
    if min(len(real), len(fake)) <= max(k_pr, k_dc):
        raise ValueError(f"PRDC needs more than {max(k_pr, k_dc)} real and generated samples")
    r_real_pr, r_fake_pr = knn_radii(real, k_pr), knn_radii(fake, k_pr)
    precision = (_inside_counts(fake, real, r_real_pr) > 0).double().mean()
    recall = (_inside_counts(real, fake, r_fake_pr) > 0).double().mean()
    r_real_dc = knn_radii(real, k_dc)
    density = _inside_counts(fake, real, r_real_dc).double().sum() / (k_dc * len(fake))
    # coverage: real i covered when its nearest generated sample lies within its k-NN radius
    nearest_fake = torch.cat([torch.cdist(real[s:s + _CHUNK], fake).min(dim=1).values
                              for s in range(0, len(real), _CHUNK)])
    coverage = (nearest_fake <= r_real_dc).double().mean()
    return {"precision": float(precision), "recall": float(recall), "density": float(density),
            "coverage": float(coverage)}


class PRDC(FeatureMetric):
    name = "prdc"
    headline = "prdc/coverage"
    higher_is_better = True

    def __init__(self, k_pr: int = 3, k_dc: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.k_pr, self.k_dc = int(k_pr), int(k_dc)

    def score(self, fake: dict, data) -> dict[str, float]:
        real = self.reference(fake, data)
        return {f"prdc/{k}": v for k, v in prdc(real["pool"], fake["pool"], self.k_pr, self.k_dc).items()}
