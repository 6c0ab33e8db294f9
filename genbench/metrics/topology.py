"""Witness complexes and relative living times (RLT) for the Geometry Score (Khrulkov & Oseledets 2018).

Two ways to the same dimension-1 persistence intervals, for the same landmarks:

- `witness_intervals_reference` follows the steps of the reference code (KhrulkovV/geometry-score,
  `gs/geom_score.py`): a full nearest-landmark table (scipy `cdist`, `argsort`), gudhi's
  `WitnessComplex(...).create_simplex_tree(max_alpha_square=alpha, limit_dimension=2)`. Like the reference,
  the table holds plain (not squared) Euclidean distances and `alpha = gamma * max distance` is plain too.
- `witness_intervals_fast` / `witness_intervals_many` build the same filtered complex with a compiled loop
  over the witnesses (`genbench.metrics.witness_kernel`, which states gudhi's rule) instead of gudhi's
  simplex-tree insertions per witness, and hand it to a gudhi `SimplexTree` for persistence.

`relative_living_times` turns intervals into an RLT: RLT[i] is the fraction of [0, alpha] during which
exactly i one-dimensional holes are alive (infinite intervals clipped to alpha).
"""

from __future__ import annotations

import numpy as np

MAX_DIM = 2  # limit_dimension of the reference: vertices, edges, triangles (enough for H1)


def default_gamma(n_points: int) -> float:
    """The reference's gamma when none is given: 1/128 * N / 5000."""
    return 1.0 / 128 * n_points / 5000


# ---------------------------------------------------------------------------------------------------------
# The reference algorithm, step by step
# ---------------------------------------------------------------------------------------------------------

def landmark_table_reference(witnesses: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """(N, L, 2) table [landmark index, plain distance] sorted by distance per witness, and the max distance."""
    from scipy.spatial.distance import cdist

    dist = cdist(witnesses, landmarks)
    order = np.argsort(dist)
    sorted_dist = dist[np.arange(dist.shape[0])[:, None], order]
    return np.dstack([order, sorted_dist]), float(np.max(dist))


def witness_intervals_reference(points: np.ndarray, landmark_idx: np.ndarray, gamma: float):
    """Dimension-1 persistence intervals of the witness complex, exactly as the reference builds it.

    Returns (intervals (k, 2) with inf for holes that never die, alpha_max, simplex tree)."""
    import gudhi

    table, max_dist = landmark_table_reference(points, points[landmark_idx])
    alpha_max = max_dist * gamma
    complex_ = gudhi.WitnessComplex(nearest_landmark_table=table)
    tree = complex_.create_simplex_tree(max_alpha_square=alpha_max, limit_dimension=MAX_DIM)
    tree.persistence(homology_coeff_field=2)
    return _as_intervals(tree.persistence_intervals_in_dimension(1)), alpha_max, tree


# ---------------------------------------------------------------------------------------------------------
# The fast path: the same complex from a compiled loop (genbench.metrics.witness_kernel)
# ---------------------------------------------------------------------------------------------------------

def simplex_tree(complex_):
    """A gudhi SimplexTree holding the filtered complex from `Workspace.build`, persistence computed."""
    import gudhi

    tree = gudhi.SimplexTree()
    for simplices, values in complex_:
        if len(simplices):
            tree.insert_batch(np.ascontiguousarray(simplices.T, dtype=np.int32), values)
    tree.persistence(homology_coeff_field=2)
    return tree


def witness_intervals_fast(dist: np.ndarray, gamma: float, max_dist: float | None = None):
    """Dimension-1 intervals from a witness-by-landmark distance matrix; same result as the reference.

    Returns (intervals (k, 2) with inf for holes that never die, alpha_max, simplex tree)."""
    from genbench.metrics.witness_kernel import Workspace

    max_dist = float(np.max(dist)) if max_dist is None else max_dist
    alpha_max = max_dist * gamma
    tree = simplex_tree(Workspace(dist.shape[1]).build(dist, alpha_max))
    return _as_intervals(tree.persistence_intervals_in_dimension(1)), alpha_max, tree


def witness_intervals_many(dist: np.ndarray, n_landmarks: int, gamma: float, workspace=None):
    """R = M / L complexes from one (N, M) distance matrix, complex r with the landmarks of columns
    r*L .. (r+1)*L - 1. Returns a list of R interval arrays and the R alpha_max values."""
    from genbench.metrics.witness_kernel import Workspace

    workspace = workspace or Workspace(n_landmarks)
    blocks = [dist[:, start:start + n_landmarks] for start in range(0, dist.shape[1], n_landmarks)]
    alphas = dist.max(axis=0).reshape(len(blocks), n_landmarks).max(axis=1) * gamma
    intervals = [_as_intervals(simplex_tree(workspace.build(block, alpha)).persistence_intervals_in_dimension(1))
                 for block, alpha in zip(blocks, alphas, strict=True)]
    return intervals, alphas


def pairwise_distances(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Euclidean distances, float64: scipy's exact loop for low dimensions, a matrix product for images."""
    if points.shape[1] <= 16:
        from scipy.spatial.distance import cdist

        return cdist(points, landmarks)
    sq = (points * points).sum(1)[:, None] + (landmarks * landmarks).sum(1)[None, :] - 2.0 * points @ landmarks.T
    return np.sqrt(np.maximum(sq, 0.0))


# ---------------------------------------------------------------------------------------------------------
# Relative living times
# ---------------------------------------------------------------------------------------------------------

def _as_intervals(intervals) -> np.ndarray:
    return np.asarray(intervals, dtype=np.float64).reshape(-1, 2)


def relative_living_times(intervals: np.ndarray, alpha_max: float, i_max: int = 100) -> np.ndarray:
    """RLT[i]: the fraction of [0, alpha_max] during which exactly i intervals are alive (i < i_max).

    Infinite (and later) deaths are clipped to alpha_max; with no interval, or alpha_max = 0, RLT = [1, 0, ...]."""
    rlt = np.zeros(i_max)
    intervals = _as_intervals(intervals)
    if len(intervals) == 0 or not alpha_max > 0:
        rlt[0] = 1.0
        return rlt
    births = np.minimum(intervals[:, 0], alpha_max)
    deaths = np.minimum(intervals[:, 1], alpha_max)
    cuts = np.unique(np.concatenate([[0.0, alpha_max], births, deaths]))
    mid = (cuts[:-1] + cuts[1:]) / 2
    alive = ((births[None, :] <= mid[:, None]) & (mid[:, None] < deaths[None, :])).sum(1)
    inside = alive < i_max
    np.add.at(rlt, alive[inside], np.diff(cuts)[inside])
    return rlt / alpha_max
