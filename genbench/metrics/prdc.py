"""Improved precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020),
from k-nearest-neighbour balls in feature space.

- precision: fraction of generated samples inside some real sample's k-NN ball (k = 3);
- recall: fraction of real samples inside some generated sample's k-NN ball (k = 3);
- density: mean count of real k-NN balls holding each generated sample, divided by k (k = 5; can exceed 1);
- coverage: fraction of real samples whose k-NN ball holds a generated sample (k = 5).
k = 3 is Kynkäänniemi et al.'s choice; Naeem et al. use k = 5 for density and coverage.

"Inside" follows each metric's reference code, which differ at the boundary: precision and recall count a
point at distance <= the radius (the authors' `precision_recall.py`, kynkaat/improved-precision-and-recall-metric),
density and coverage only at distance < the radius (clovaai's `prdc`). The two agree on continuous features; on
tied ones (duplicated or quantized samples, where memorization shows) they do not: a real sample with k exact
copies has radius 0, whose ball holds nothing for density and coverage. Distances are float64 and computed
exactly (no |a|^2 + |b|^2 - 2 a.b expansion, whose round-off puts copies ~1e-6 apart at d = 2048), so ties are
decided by those rules, not by round-off.
"""

from __future__ import annotations

import torch

from genbench.metrics.feature_base import FeatureMetric

_CHUNK = 1024


def _as64(x) -> torch.Tensor:
    return (x if isinstance(x, torch.Tensor) else torch.as_tensor(x)).double()


def distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances from the differences: copies are at 0, equal pairs at equal distances."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def knn_radii(x: torch.Tensor, ks) -> dict[int, torch.Tensor]:
    """For each k in ks, the distance from each row to its k-th nearest other row."""
    kmax = max(ks)
    nearest = torch.cat([distances(x[s:s + _CHUNK], x).topk(kmax + 1, dim=1, largest=False).values
                         for s in range(0, len(x), _CHUNK)])  # ascending; column 0 is the row itself (0)
    return {k: nearest[:, k] for k in ks}


def prdc(real, fake, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    real, fake = _as64(real), _as64(fake)
    if min(len(real), len(fake)) <= max(k_pr, k_dc):
        raise ValueError(f"PRDC needs more than {max(k_pr, k_dc)} real and generated samples")
    r_real = knn_radii(real, {k_pr, k_dc})
    r_fake = knn_radii(fake, {k_pr})[k_pr]
    in_real_manifold = torch.zeros(len(fake), dtype=torch.bool)  # precision: fake inside some real ball
    balls_holding = torch.zeros(len(fake), dtype=torch.float64)  # density: how many real balls hold each fake
    recall_hits, coverage_hits = [], []
    for s in range(0, len(real), _CHUNK):
        d = distances(real[s:s + _CHUNK], fake)  # [real chunk, fake]
        pr_radius, dc_radius = r_real[k_pr][s:s + _CHUNK, None], r_real[k_dc][s:s + _CHUNK]
        in_real_manifold |= (d <= pr_radius).any(dim=0)  # Kynkäänniemi et al.: <=
        recall_hits.append((d <= r_fake[None, :]).any(dim=1))
        balls_holding += (d < dc_radius[:, None]).sum(dim=0)  # Naeem et al. (clovaai prdc): strict <
        coverage_hits.append(d.min(dim=1).values < dc_radius)
    return {"precision": float(in_real_manifold.double().mean()),
            "recall": float(torch.cat(recall_hits).double().mean()),
            "density": float(balls_holding.sum() / (k_dc * len(fake))),
            "coverage": float(torch.cat(coverage_hits).double().mean())}


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
