"""The birthday-paradox test (Arora & Zhang 2018, "Do GANs learn the distribution?"): the closest pairs of
generated samples for a person to judge, near-duplicates flagged against the real data's own spacing, and the
support size that rate of duplicates implies. Definitions and defaults: docs/metrics.md, "Birthday-paradox test"."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from genbench.metrics.base import NO_CONTEXT, EvalContext
from genbench.metrics.geometry_score import model_space
from genbench.plots import save_figure


def pairwise(x: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows, float64, with +inf on the diagonal."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    sq = (t * t).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * t @ t.T).clamp_min_(0.0)
    d = d2.sqrt_().numpy()
    np.fill_diagonal(d, np.inf)
    return d


def median_nn_distance(x: np.ndarray) -> float:
    return float(np.median(pairwise(x).min(axis=1)))


def closest_pairs(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k closest pairs (i < j) of rows of x: ((k, 2) indices, (k,) distances), closest first."""
    d = pairwise(x)
    iu = np.triu_indices(len(x), 1)
    flat = d[iu]
    k = min(k, len(flat))
    top = np.argpartition(flat, k - 1)[:k] if k < len(flat) else np.arange(len(flat))
    top = top[np.argsort(flat[top], kind="stable")]
    return np.stack([iu[0][top], iu[1][top]], 1), flat[top]


def support_estimate(dup_pairs: int, n_samples: int) -> tuple[float, bool]:
    """2 ln 2 / p with p the near-duplicate rate among all pairs; (n_samples^2, True) without duplicates."""
    total = n_samples * (n_samples - 1) / 2
    if dup_pairs == 0:
        return float(n_samples) ** 2, True
    return 2 * math.log(2) * total / dup_pairs, False


def pairs_png(samples: torch.Tensor, pairs: np.ndarray, dist: np.ndarray, cutoff: float, is_image: bool,
              path: Path, title: str, batch: np.ndarray | None = None) -> None:
    """Images: one row per pair (left, right), a red frame for near-duplicates. Points: the batch, pairs joined."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_image:
        from PIL import Image

        from genbench.plots import to_uint8

        imgs = to_uint8(samples).permute(0, 2, 3, 1).numpy()  # (n, H, W, C)
        imgs = imgs.repeat(3, axis=3) if imgs.shape[3] == 1 else imgs
        _, h, w, _ = imgs.shape
        pad, gap = 2, 6  # a frame around each image (red for a near-duplicate pair), space between the two
        cell_h, cell_w = h + 2 * pad, w + 2 * pad
        grid = np.full((len(pairs) * (cell_h + gap), 2 * cell_w + 3 * gap, 3), 255, dtype=np.uint8)
        for r, ((i, j), dd) in enumerate(zip(pairs, dist, strict=True)):
            y = r * (cell_h + gap) + gap // 2
            for col, idx in enumerate((i, j)):
                x = gap + col * (cell_w + gap)
                grid[y:y + cell_h, x:x + cell_w] = (220, 0, 0) if dd < cutoff else (255, 255, 255)
                grid[y + pad:y + pad + h, x + pad:x + pad + w] = imgs[idx]
        Image.fromarray(grid).save(path)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = samples.detach().cpu().double().numpy()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    shown = pts if batch is None else pts[batch]
    ax.scatter(shown[:, 0], shown[:, 1], s=3, c="tab:orange", alpha=0.5)
    for (i, j), dd in zip(pairs, dist, strict=True):
        ax.plot(pts[[i, j], 0], pts[[i, j], 1], "-o", ms=3, lw=1, c="tab:red" if dd < cutoff else "tab:blue")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)


class BirthdayParadox:
    """`metrics=[birthday]`: near-duplicates among generated samples and the implied support size."""

    name = "birthday"
    headline = "birthday/support"
    higher_is_better = True

    def __init__(self, s: int = 400, pairs: int = 20, threshold: float = 0.2):
        if s < 2 or pairs < 1 or not threshold > 0:
            raise ValueError(f"birthday: s={s} must be >= 2, pairs={pairs} >= 1, threshold={threshold} > 0")
        self.s, self.pairs, self.threshold = int(s), int(pairs), float(threshold)

    def applies(self, data) -> bool:
        return True

    def __call__(self, samples: torch.Tensor, data, context: EvalContext = NO_CONTEXT) -> dict[str, float]:
        s = min(self.s, len(samples))
        x = model_space(samples)
        real_nn = median_nn_distance(model_space(data.real_samples(s)))
        cutoff = self.threshold * real_nn
        dist = pairwise(x)
        iu = np.triu_indices(len(x), 1)
        dup_pairs = int((dist[iu] < cutoff).sum())
        n_batches = max(1, len(x) // s)
        with_dup = sum(bool((dist[b * s:(b + 1) * s, b * s:(b + 1) * s] < cutoff).any()) for b in range(n_batches))
        support, lower = support_estimate(dup_pairs, len(x))
        pairs, pair_dist = closest_pairs(x[:s], self.pairs)
        if context.output_dir is not None:
            step = "final" if context.step is None else context.step
            pairs_png(samples[:s], pairs, pair_dist, cutoff, data.is_image,
                      Path(context.output_dir) / f"birthday_step_{step}.png",
                      f"{len(pairs)} closest pairs of s={s} samples, step {step} (red: < {self.threshold:g} x "
                      f"median real NN distance {real_nn:.3g})")
        return {
            "birthday/support": support,
            "birthday/support_is_lower_bound": float(lower),
            "birthday/dup_batch_fraction": with_dup / n_batches,
            "birthday/dup_pairs_per_batch": float((dist[:s, :s][np.triu_indices(s, 1)] < cutoff).sum()),
            "birthday/closest_over_real_nn": float(pair_dist[0] / real_nn) if len(pair_dist) and real_nn > 0 else 0.0,
        }
