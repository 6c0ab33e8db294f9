"""Geometry Score: fast mode against reference mode on the same data, in one run.

    python scripts/bench_geometry_score.py            # the notebook's settings and the metric's defaults
    python scripts/bench_geometry_score.py --quick    # smaller, for a smoke test
    python scripts/bench_geometry_score.py --stages   # also where each mode spends its time, per draw

Both modes draw the same landmarks (same seed), so their RLTs must be equal; the script checks that and prints
milliseconds per repetition and the ratio for each setting. Each timing is the best of `--repeat` runs (the
machine may be shared). The first call compiles the fast mode's loop (numba; cached on disk afterwards) and is
not timed. Both modes run on one core.

Where the time goes (`--stages`): the reference spends 70-80% in gudhi's `create_simplex_tree` (a
simplex-tree search and insertion per witnessed simplex) and most of the rest sorting the N x L landmark
table and handing it to gudhi; the fast mode spends ~40% in the compiled witness loop, ~30% in gudhi's
persistence of the finished complex, the rest in distances and RLTs. The numpy version of the same loop
stopped at 4-6x: per draw of the circle setting, 0.5 ms to sort the candidate landmarks and 1.2 ms to
enumerate the simplices, in ~30 array operations per group of witnesses that mostly made temporaries.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch  # noqa: F401  (imported before timing: the metric runs inside a process that has it)

from genbench.metrics.geometry_score import landmark_draws, rlts
from genbench.metrics.topology import (
    MAX_DIM,
    default_gamma,
    landmark_table_reference,
    pairwise_distances,
    relative_living_times,
    simplex_tree,
)
from genbench.metrics.witness_kernel import Workspace

SETTINGS = [
    # name, points, L_0, gamma, i_max, n
    ("notebook: circle, L_0=32, gamma=1/8, i_max=10", "circle", 2000, 32, 1 / 8, 10, 100),
    ("metric default: ring8, L_0=64, gamma=1/128*N/5000, i_max=100", "ring8", 2500, 64, None, 100, 100),
]


def cloud(kind: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "circle":
        angle = rng.uniform(0, 2 * np.pi, n)
        return np.stack([np.cos(angle), np.sin(angle)], 1)
    angle = rng.integers(0, 8, n) * (2 * np.pi / 8)
    return 2 * np.stack([np.cos(angle), np.sin(angle)], 1) + 0.02 * rng.standard_normal((n, 2))


def best_time(fn, repeat: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def stages(points: np.ndarray, L_0: int, gamma: float | None, i_max: int, n: int) -> dict[str, dict[str, float]]:
    """Milliseconds per draw in each step of either mode (the steps of `rlts`, timed one by one)."""
    import gudhi

    gamma = default_gamma(len(points)) if gamma is None else gamma
    spent = {"reference": dict.fromkeys(["cdist + argsort table", "gudhi WitnessComplex(table)",
                                         "create_simplex_tree", "persistence", "RLT"], 0.0),
             "fast": dict.fromkeys(["distances", "compiled complex", "SimplexTree + persistence", "RLT"], 0.0)}
    workspace = Workspace(L_0)

    def timed(mode: str, step: str, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        spent[mode][step] += (time.perf_counter() - start) * 1e3 / n
        return out

    for idx in landmark_draws(len(points), L_0, n):
        table, max_dist = timed("reference", "cdist + argsort table", landmark_table_reference, points, points[idx])
        witness = timed("reference", "gudhi WitnessComplex(table)", gudhi.WitnessComplex, table)
        tree = timed("reference", "create_simplex_tree", witness.create_simplex_tree, max_dist * gamma, MAX_DIM)
        intervals = timed("reference", "persistence",
                          lambda t: (t.persistence(homology_coeff_field=2), t.persistence_intervals_in_dimension(1)),
                          tree)[1]
        timed("reference", "RLT", relative_living_times, intervals, max_dist * gamma, i_max)
        dist = timed("fast", "distances", pairwise_distances, points, points[idx])
        complex_ = timed("fast", "compiled complex", workspace.build, dist, dist.max() * gamma)
        intervals = timed("fast", "SimplexTree + persistence",
                          lambda c: simplex_tree(c).persistence_intervals_in_dimension(1), complex_)
        timed("fast", "RLT", relative_living_times, intervals, dist.max() * gamma, i_max)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="n=20 repetitions, 1 timing each")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stages", action="store_true", help="also time each step of both modes")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    rlts(cloud("circle", 200), L_0=16, gamma=1 / 8, i_max=10, n=2)  # compile (or load) the fast loop
    ratios = []
    for name, kind, n_points, L_0, gamma, i_max, n in SETTINGS:
        n = 20 if args.quick else n
        points = cloud(kind, n_points)
        kwargs = dict(L_0=L_0, gamma=gamma, i_max=i_max, n=n, seed=0)
        t_ref, ref = best_time(lambda kw=kwargs, p=points: rlts(p, mode="reference", **kw), repeat)
        t_fast, fast = best_time(lambda kw=kwargs, p=points: rlts(p, mode="fast", **kw), repeat)
        diff = float(np.abs(ref - fast).max())
        ratio = t_ref / t_fast
        ratios.append(ratio)
        print(f"{name}\n  N={n_points}, n={n} repetitions: reference {t_ref / n * 1e3:.2f} ms/rep, "
              f"fast {t_fast / n * 1e3:.2f} ms/rep, ratio {ratio:.1f}x; max |RLT difference| {diff:.2e}")
        if diff > 0:
            raise SystemExit(f"fast and reference modes disagree (max RLT difference {diff:.3g})")
        if args.stages:
            for mode, steps in stages(points, L_0, gamma, i_max, n).items():
                print(f"  {mode:9s} ms/rep: " + ", ".join(f"{step} {ms:.3f}" for step, ms in steps.items()))
    print(f"fast/reference speed ratio: {', '.join(f'{r:.1f}x' for r in ratios)}")


if __name__ == "__main__":
    main()
