"""Witness complexes and relative living times (RLT) for the Geometry Score (Khrulkov & Oseledets 2018).

Two ways to the same dimension-1 persistence intervals, for the same landmarks:

- `witness_intervals_reference` follows the steps of the reference code (KhrulkovV/geometry-score,
  `gs/geom_score.py`): a full nearest-landmark table (scipy `cdist`, `argsort`), gudhi's
  `WitnessComplex(...).create_simplex_tree(max_alpha_square=alpha, limit_dimension=2)`. Like the reference,
  the table holds plain (not squared) Euclidean distances and `alpha = gamma * max distance` is plain too.
- `witness_intervals_fast` builds the same filtered complex with numpy instead of gudhi's per-witness loop
  and hands it to a gudhi `SimplexTree` for persistence. gudhi's relaxed witness complex gives a simplex s
  (up to 3 landmarks) witnessed by w the value  f_w(s) = max(0, max_{l in s} d(w,l) - min_{l not in s} d(w,l)),
  kept when `max_{l in s} d(w,l) - alpha <= min_{l not in s} d(w,l)`; a simplex's filtration is the
  smallest f_w over its witnesses, raised to its faces' values, and it exists only when all its faces do.
  Only landmarks with d(w,l) - alpha <= (3rd smallest d(w, .)) can appear, so each witness enumerates the
  subsets of that short list: a few vectorized array operations per group of witnesses.

`relative_living_times` turns intervals into an RLT: RLT[i] is the fraction of [0, alpha] during which
exactly i one-dimensional holes are alive (infinite intervals clipped to alpha).
"""

from __future__ import annotations

from itertools import combinations, permutations
from math import comb

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
# The fast path: the same complex, vectorized
# ---------------------------------------------------------------------------------------------------------

_COMBOS: dict[tuple[int, int, int], np.ndarray] = {}


def _positions(fixed: int, stop: int, free: int) -> np.ndarray:
    """Rows [0, 1, ..., fixed-1, j_1 < ... < j_free] with fixed < j_1 and j_free < stop."""
    key = (fixed, stop, free)
    if key not in _COMBOS:
        tail = np.array(list(combinations(range(fixed + 1, stop), free)), dtype=np.int64).reshape(-1, free)
        head = np.broadcast_to(np.arange(fixed), (len(tail), fixed))
        _COMBOS[key] = np.concatenate([head, tail], axis=1)
    return _COMBOS[key]


def _sort_rows(ids: np.ndarray) -> list[np.ndarray]:
    """The columns (last axis) of an integer array (..., 1..3) with each row sorted (a sorting network: faster
    than np.sort on short rows)."""
    if ids.shape[-1] == 1:
        return [ids[..., 0]]
    if ids.shape[-1] == 2:
        a, b = ids[..., 0], ids[..., 1]
        return [np.minimum(a, b), np.maximum(a, b)]
    a, b, c = ids[..., 0], ids[..., 1], ids[..., 2]
    a, b = np.minimum(a, b), np.maximum(a, b)
    b, c = np.minimum(b, c), np.maximum(b, c)
    a, b = np.minimum(a, b), np.maximum(a, b)
    return [a, b, c]


_TABLES: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _simplex_table(n_land: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Combinatorial numbering of the `size`-subsets of n_land landmarks: sorted ids (a < b < c) have the
    number C(a, 1) + C(b, 2) + C(c, 3). Returns (binomials (size, n_land), subsets in numbering order)."""
    key = (n_land, size)
    if key not in _TABLES:
        ids = np.arange(n_land)
        binom = np.stack([np.array([comb(int(i), j + 1) for i in ids], dtype=np.int64) for j in range(size)])
        subsets = np.array(list(combinations(range(n_land), size)), dtype=np.int64).reshape(-1, size)
        table = np.empty_like(subsets)
        table[binom[np.arange(size)[None], subsets].sum(1)] = subsets
        _TABLES[key] = (binom, table)
    return _TABLES[key]


def _encode(simplices, reps: np.ndarray, n_land: int) -> np.ndarray:
    """Numbers of sorted simplices (m, size), or their `size` columns, of complexes `reps`:
    rep * C(n_land, size) + combinatorial number."""
    columns = list(simplices.T) if isinstance(simplices, np.ndarray) else simplices
    size = len(columns)
    binom, _ = _simplex_table(n_land, size)
    key = reps.astype(np.int64) * comb(n_land, size)
    for j, column in enumerate(columns):
        key += binom[j].take(column)
    return key


_ORDERED: dict[tuple[int, int], np.ndarray] = {}


def _key_of_ids(ids: np.ndarray, n_land: int) -> np.ndarray:
    """Combinatorial numbers of the simplices with distinct landmark ids ids[..., :] in any order.

    For small L a table over ordered tuples (L^size entries) replaces the sorting network."""
    size = ids.shape[-1]
    if n_land ** size > 1 << 22:
        binom, _ = _simplex_table(n_land, size)
        columns = _sort_rows(ids)
        key = binom[0].take(columns[0])
        for j in range(1, size):
            key += binom[j].take(columns[j])
        return key
    if (n_land, size) not in _ORDERED:
        table = np.zeros(n_land ** size, dtype=np.int64)
        _, subsets = _simplex_table(n_land, size)
        for perm in permutations(range(size)):
            linear = np.zeros(len(subsets), dtype=np.int64)
            for j in perm:
                linear = linear * n_land + subsets[:, j]
            table[linear] = np.arange(len(subsets))
        _ORDERED[n_land, size] = table
    linear = ids[..., 0]
    for j in range(1, size):
        linear = linear * n_land + ids[..., j]
    return _ORDERED[n_land, size].take(linear)


def _decode(keys: np.ndarray, size: int, n_land: int) -> tuple[np.ndarray, np.ndarray]:
    reps, local = np.divmod(keys, comb(n_land, size))
    return _simplex_table(n_land, size)[1][local], reps


def _row_counts(mask: np.ndarray) -> np.ndarray:
    """Number of True per row of a 2-d boolean array (bytes summed as uint64 words: faster than .sum(1))."""
    n_rows, width = mask.shape
    padded = -width % 8
    if padded:
        mask = np.concatenate([mask, np.zeros((n_rows, padded), dtype=bool)], axis=1)
    words = np.ascontiguousarray(mask).view(np.uint64)
    total = words[:, 0].copy()
    for j in range(1, words.shape[1]):
        total += words[:, j]
    # each byte is 0 or 1 and a row has at most 255 of them: fold the 8 bytes of the word
    total = (total & 0x00FF00FF00FF00FF) + ((total >> 8) & 0x00FF00FF00FF00FF)
    total = (total & 0x0000FFFF0000FFFF) + ((total >> 16) & 0x0000FFFF0000FFFF)
    total = (total & 0xFFFFFFFF) + (total >> 32)
    return total.astype(np.int64)


def _nearest(flat: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The `width` smallest entries of each row in increasing order, and their columns (ties in any order).

    An integer sort of the float32 bit patterns with the column in the low bits (several times faster than
    argsort); rows where that coarse order may differ from the exact one are redone with argsort."""
    n_rows, n_land = flat.shape
    offsets = np.arange(0, n_rows * n_land, n_land)[:, None]
    bits = max(1, (n_land - 1).bit_length())
    if bits > 8 or n_rows == 0:
        order = np.argsort(flat, axis=1)[:, :width]
        return flat.ravel().take(order + offsets), order
    with np.errstate(over="ignore"):
        key = flat.astype(np.float32).view(np.int32)  # non-negative floats order as their bit patterns
    key &= ~((1 << bits) - 1)
    key |= np.arange(n_land, dtype=np.int32)
    key.sort(axis=1)
    head = key[:, :width + 1]
    order = (head[:, :width] & ((1 << bits) - 1)).astype(np.int64)
    srt = flat.ravel().take(order + offsets)
    # exact where the distances come out non-decreasing and the next one has a larger coarse key (and no sign)
    bad = (srt[:, 1:] < srt[:, :-1]).any(axis=1) | (head[:, 0] < 0)
    if width < n_land:
        bad |= (head[:, width - 1] >> bits) == (head[:, width] >> bits)
    bad = np.flatnonzero(bad)
    if len(bad):
        exact = np.argsort(flat[bad], axis=1)[:, :width]
        order[bad] = exact
        srt[bad] = flat.ravel().take(exact + offsets[bad])
    return srt, order


def _candidates(flat: np.ndarray, row_alpha: np.ndarray):
    """Per witness (row): its nearest landmarks in order of distance, as many as can enter a simplex.

    A landmark at distance d can belong to a witnessed simplex of up to 3 landmarks only when
    d - alpha <= the 3rd smallest distance; `counts` is how many do. Returns their sorted distances (padded
    with inf), their landmark ids, the counts, and reach[g] for g = 0..2: how many of a witness's nearest
    landmarks lie within alpha of its (g+1)-th nearest distance (at most counts)."""
    n_rows, n_land = flat.shape
    width = min(n_land, 16)
    while True:  # only the first columns can hold candidates: widen until the last one is out
        srt, order = _nearest(flat, width)
        shifted = np.subtract(srt, row_alpha[:, None], out=np.empty_like(srt))
        inside = shifted <= srt[:, [min(MAX_DIM, n_land - 1)]]
        if width == n_land or not inside[:, -1].any():
            break
        width = min(n_land, 2 * width)
    counts = _row_counts(inside)
    reach = [_row_counts(shifted <= srt[:, [g]]) if g < min(MAX_DIM, n_land - 1) else counts
             for g in range(MAX_DIM + 1)]
    width = int(counts.max())
    srt = np.concatenate([srt[:, :width], np.full((n_rows, 1), np.inf)], axis=1)
    return srt, np.ascontiguousarray(order[:, :width]), counts, [np.minimum(r, counts) for r in reach]


def witness_filtration(dist: np.ndarray, alpha, chunk: int = 1 << 20,
                       rep_axis: int = 0) -> list[tuple[np.ndarray, ...]]:
    """The filtered relaxed witness complex (gudhi's rule) from witness-by-landmark distances.

    `dist` is (N, L) for one complex or (R, N, L) for R complexes at once (one landmark set each, `alpha` one
    value or R values; `rep_axis=1`: the distances are (N, R, L), as one distance call to the landmarks of all
    R complexes gives them, no copy needed). Returns, for dimensions 0, 1, 2: (simplices (m, dim+1) of sorted
    landmark ids, filtration values (m,), complex index (m,)), sorted by complex then simplex."""
    dist = np.asarray(dist, dtype=np.float64)
    dist = dist[None] if dist.ndim == 2 else dist
    if rep_axis == 1:
        n_wit, n_rep, n_land = dist.shape
        row_rep = np.tile(np.arange(n_rep), n_wit)
    else:
        n_rep, n_wit, n_land = dist.shape
        row_rep = np.repeat(np.arange(n_rep), n_wit)
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (n_rep,))
    flat = dist.reshape(n_rep * n_wit, n_land)  # rows in any order: the result is gathered per complex
    srt, order, counts, reach = _candidates(flat, alpha[row_rep])
    width = order.shape[1]
    sizes = range(1, MAX_DIM + 2)
    keys: dict[int, list] = {size: [] for size in sizes}
    values: dict[int, list] = {size: [] for size in sizes}
    # g = size: the `size` nearest landmarks, f = 0 (every witness has at least `size` candidates or is alone)
    for size in sizes:
        rows = np.flatnonzero(counts >= size)
        keys[size].append(_encode(_sort_rows(order[rows, :size]), row_rep[rows], n_land))
        values[size].append(np.zeros(len(rows)))
    # A simplex whose first missing position (in the witness's order) is g holds positions 0..g-1 and
    # size-g positions in (g, reach[g]): f = max(0, largest distance - d_g). Rows grouped by reach[g].
    for g in range(MAX_DIM + 1):
        stops = reach[g].astype(np.int16)  # small integers: a radix sort
        by_stop = np.argsort(stops, kind="stable")
        bounds = np.searchsorted(stops[by_stop], np.arange(width + 2))
        # rows in order of reach[g]: each group below is a slice
        srt_g, order_g = srt[by_stop], order[by_stop]
        offset = {size: row_rep[by_stop] * comb(n_land, size) for size in sizes[g:]}
        for stop in range(g + 2, width + 1):
            step = max(1, chunk // max(1, comb(stop - g - 1, 3)))
            for lo in range(bounds[stop], bounds[stop + 1], step):
                hi = min(lo + step, bounds[stop + 1])
                sub_srt, sub_ord = srt_g[lo:hi, :stop], order_g[lo:hi, :stop]
                near = sub_srt[:, g:g + 1]
                for size in sizes[g:]:
                    pos = _positions(g, stop, size - g)
                    if not len(pos):
                        continue
                    far = sub_srt.take(pos[:, -1], axis=1)
                    far -= near
                    values[size].append(np.maximum(far, 0.0, out=far).ravel())
                    ids = sub_ord.take(pos.ravel(), axis=1).reshape(hi - lo, len(pos), size)
                    keys[size].append((_key_of_ids(ids, n_land) + offset[size][lo:hi, None]).ravel())
    result = []
    for size in sizes:
        # the smallest value over witnesses, in a dense table over all possible simplices (no sorting)
        dense = np.full(n_rep * comb(n_land, size), np.inf)
        np.minimum.at(dense, np.concatenate(keys[size]), np.concatenate(values[size]))
        if size > 1:
            _close_under_faces(dense, result[-1], size, n_land)
        found = np.flatnonzero(dense < np.inf)
        simplices, reps = _decode(found, size, n_land)
        result.append((simplices, dense[found], reps, dense))
    return [(s, v, r) for s, v, r, _ in result]


def _close_under_faces(dense, lower, size, n_land):
    """In place: drop simplices with a missing face; raise each value to the largest of its faces' values."""
    lower_dense = lower[3]
    keys = np.flatnonzero(dense < np.inf)
    simplices, reps = _decode(keys, size, n_land)
    values = dense[keys]
    for drop in range(size):
        values = np.maximum(values, lower_dense[_encode(np.delete(simplices, drop, axis=1), reps, n_land)])
    dense[keys] = values  # inf where a face is missing


def _tree(levels, rep: int | None = None):
    import gudhi

    tree = gudhi.SimplexTree()
    for simplices, values, reps in levels:
        if rep is not None:
            lo, hi = np.searchsorted(reps, [rep, rep + 1])
            simplices, values = simplices[lo:hi], values[lo:hi]
        if len(simplices):
            tree.insert_batch(np.ascontiguousarray(simplices.T, dtype=np.int32), np.ascontiguousarray(values))
    tree.persistence(homology_coeff_field=2)
    return tree


def witness_intervals_fast(dist: np.ndarray, gamma: float, max_dist: float | None = None):
    """Dimension-1 intervals from a witness-by-landmark distance matrix; same result as the reference.

    Returns (intervals (k, 2) with inf for holes that never die, alpha_max, simplex tree)."""
    max_dist = float(np.max(dist)) if max_dist is None else max_dist
    alpha_max = max_dist * gamma
    tree = _tree(witness_filtration(dist, alpha_max))
    return _as_intervals(tree.persistence_intervals_in_dimension(1)), alpha_max, tree


def witness_intervals_batch(dist: np.ndarray, gamma: float, rep_axis: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """R complexes at once from (R, N, L) distances ((N, R, L) with `rep_axis=1`): a list of R interval arrays
    and the R alpha_max values."""
    n_rep = dist.shape[rep_axis]
    alpha_max = (dist.max(axis=(0, 2)) if rep_axis == 1 else dist.reshape(n_rep, -1).max(axis=1)) * gamma
    levels = witness_filtration(dist, alpha_max, rep_axis=rep_axis)
    out = []
    for rep in range(n_rep):
        out.append(_as_intervals(_tree(levels, rep).persistence_intervals_in_dimension(1)))
    return out, alpha_max


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
