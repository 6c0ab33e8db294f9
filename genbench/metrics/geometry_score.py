"""Geometry Score (Khrulkov & Oseledets 2018): compare the topology of generated and real samples.

For one point cloud X (N points): pick L_0 landmarks at random from X (with replacement, as the reference
code does), build the witness complex on them with every point of X as a witness, up to the relaxation
alpha_max = gamma * (largest witness-landmark distance), gamma = 1/128 * N/5000 unless given, compute
persistence over Z/2 and keep the dimension-1 intervals (holes), infinite ones clipped to alpha_max.
RLT[i] is the fraction of [0, alpha_max] during which exactly i holes are alive (i < i_max). The mean
over n landmark draws is the MRLT; GS = sum_i (MRLT_1[i] - MRLT_2[i])^2. Lower is better.

`mode="reference"` runs each repetition the way the reference code (KhrulkovV/geometry-score,
`gs/geom_score.py`) does, with gudhi's `WitnessComplex`; `mode="fast"` builds the same complexes with a
compiled loop over the witnesses (`genbench.metrics.witness_kernel`) and gudhi only for persistence. Both
draw the same landmarks from the same seed, so they give the same RLTs, not only the same MRLT within
sampling noise (bit for bit up to 16 dimensions; beyond, distances come from a matrix product: to rounding).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from genbench.data.model_space import to_model_space
from genbench.errors import ConfigError
from genbench.metrics.base import NO_CONTEXT, EvalContext
from genbench.metrics.topology import (
    default_gamma,
    pairwise_distances,
    relative_living_times,
    witness_intervals_many,
    witness_intervals_reference,
)
from genbench.plots import save_figure

log = logging.getLogger("genbench")

MODES = ("fast", "reference")
MAX_FAST_LANDMARKS = 294  # genbench.metrics.witness_kernel.MAX_LANDMARKS (not imported here: numba loads slowly)


def landmark_draws(n_points: int, n_landmarks: int, n: int, seed: int | None = 0) -> np.ndarray:
    """(n, L_0) landmark indices, drawn with replacement like the reference (np.random.choice(N, L_0))."""
    return np.random.default_rng(seed).choice(n_points, size=(n, n_landmarks), replace=True)


def rlt_reference(points: np.ndarray, landmark_idx: np.ndarray, gamma: float | None = None,
                  i_max: int = 100) -> np.ndarray:
    """One RLT, the reference's way, for given landmark indices."""
    points = np.asarray(points, dtype=np.float64)
    gamma = default_gamma(len(points)) if gamma is None else gamma
    intervals, alpha_max, _ = witness_intervals_reference(points, np.asarray(landmark_idx), gamma)
    return relative_living_times(intervals, alpha_max, i_max)


def rlts(points, L_0: int = 64, gamma: float | None = None, i_max: int = 100, n: int = 1000,
         mode: str = "fast", seed: int | None = 0) -> np.ndarray:
    """(n, i_max) RLTs of `points` (N, D) for n landmark draws; `mode` is "fast" or "reference"."""
    if mode not in MODES:
        raise ValueError(f"geometry score mode={mode!r}: choose one of {', '.join(MODES)}")
    points = np.asarray(points.detach().cpu() if isinstance(points, torch.Tensor) else points, dtype=np.float64)
    points = points.reshape(len(points), -1)
    gamma = default_gamma(len(points)) if gamma is None else float(gamma)
    draws = landmark_draws(len(points), L_0, n, seed)
    out = np.zeros((n, i_max))
    if mode == "reference":
        for r, idx in enumerate(draws):
            out[r] = rlt_reference(points, idx, gamma, i_max)
        return out
    # fast: the distances to the landmarks of `batch` draws in one call (a few MB, kept in cache), then one
    # compiled pass over the witnesses per draw (numba: imported here, it takes a while to load)
    from genbench.metrics.witness_kernel import Workspace

    batch = max(1, min(n, (1 << 18) // max(1, len(points) * L_0)))
    workspace = Workspace(L_0)
    for start in range(0, n, batch):
        idx = draws[start:start + batch]
        dist = pairwise_distances(points, points[idx.ravel()])
        intervals, alpha_max = witness_intervals_many(dist, L_0, gamma, workspace)
        for r, (ints, alpha) in enumerate(zip(intervals, alpha_max, strict=True)):
            out[start + r] = relative_living_times(ints, alpha, i_max)
    return out


def mrlt(points, L_0: int = 64, gamma: float | None = None, i_max: int = 100, n: int = 1000,
         mode: str = "fast", seed: int | None = 0) -> np.ndarray:
    """The mean relative living times over n landmark draws."""
    return rlts(points, L_0, gamma, i_max, n, mode, seed).mean(axis=0)


def geom_score(mrlt_1: np.ndarray, mrlt_2: np.ndarray) -> float:
    """GS = sum_i (MRLT_1[i] - MRLT_2[i])^2."""
    return float(np.sum((np.asarray(mrlt_1) - np.asarray(mrlt_2)) ** 2))


def mrlt_png(real: np.ndarray, generated: np.ndarray, path: Path, title: str) -> None:
    """The two MRLT histograms side by side (bars up to the last non-zero bin, at least 10)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nonzero = np.flatnonzero((real > 1e-4) | (generated > 1e-4))
    shown = max(10, int(nonzero.max()) + 2 if len(nonzero) else 10)
    shown = min(shown, len(real))
    x = np.arange(shown)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.bar(x - 0.2, real[:shown], width=0.4, color="tab:blue", label="data")
    ax.bar(x + 0.2, generated[:shown], width=0.4, color="tab:orange", label="generated")
    ax.set_xlabel("number of 1-dimensional holes")
    ax.set_ylabel("mean relative living time")
    ax.set_xticks(x)
    ax.legend()
    ax.set_title(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)


def model_space(items: torch.Tensor) -> np.ndarray:
    """Real items as the generator produces them, flattened: uint8 images -> [-1, 1], points unchanged."""
    x = to_model_space(items.detach().cpu(), torch.float64)
    return x.reshape(len(x), -1).numpy()


class GeometryScore:
    """`metrics=[gs]`: GS between min(eval.n, max_points) generated and as many real samples.

    Writes metrics/gs_step_<N>.png (both MRLTs) into the run folder."""

    name = "gs"
    headline = "gs/score"
    higher_is_better = False

    def __init__(self, L_0: int = 64, gamma: float | None = None, i_max: int = 100, n: int = 100,
                 max_points: int = 2500, mode: str = "fast", seed: int = 0):
        if mode not in MODES:
            raise ConfigError(f"metrics.gs.mode={mode!r}: choose one of {', '.join(MODES)}")
        if mode == "fast" and L_0 > MAX_FAST_LANDMARKS:
            raise ConfigError(f"metrics.gs.L_0={L_0}: the fast mode handles at most {MAX_FAST_LANDMARKS} landmarks; "
                              "use metrics.gs.mode=reference")
        self.L_0, self.gamma, self.i_max, self.n = int(L_0), gamma, int(i_max), int(n)
        self.max_points, self.mode, self.seed = int(max_points), mode, int(seed)

    def applies(self, data) -> bool:
        return True

    def __call__(self, samples: torch.Tensor, data, context: EvalContext = NO_CONTEXT) -> dict[str, float]:
        m = min(len(samples), self.max_points)
        generated = model_space(samples[:m])
        real = model_space(data.real_samples(m))
        kwargs = dict(L_0=self.L_0, gamma=self.gamma, i_max=self.i_max, n=self.n, mode=self.mode, seed=self.seed)
        mrlt_real, mrlt_gen = mrlt(real, **kwargs), mrlt(generated, **kwargs)
        score = geom_score(mrlt_real, mrlt_gen)
        if context.output_dir is not None:
            step = "final" if context.step is None else context.step
            gamma = f"{self.gamma:g}" if self.gamma is not None else f"1/128*N/5000={default_gamma(m):.4g}"
            mrlt_png(mrlt_real, mrlt_gen, Path(context.output_dir) / f"gs_step_{step}.png",
                     f"Geometry Score {score:.4g} at step {step}\nN={m}, L_0={self.L_0}, gamma={gamma}, "
                     f"n={self.n}, {self.mode} mode")
        holes = np.arange(self.i_max)
        return {
            "gs/score": score,
            "gs/mean_holes_real": float(holes @ mrlt_real),
            "gs/mean_holes_generated": float(holes @ mrlt_gen),
        }
