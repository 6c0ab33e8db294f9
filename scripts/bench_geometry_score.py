"""Geometry Score: fast mode against reference mode on the same data, in one run.

    python scripts/bench_geometry_score.py            # the notebook's settings and the metric's defaults
    python scripts/bench_geometry_score.py --quick    # smaller, for a smoke test

Both modes draw the same landmarks (same seed), so their RLTs must agree to rounding; the script checks
that and prints seconds per repetition and the ratio for each setting. Each timing is the best of
`--repeat` runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch  # noqa: F401  (imported before timing: the metric runs inside a process that has it)

from genbench.metrics.geometry_score import rlts

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="n=20 repetitions, 1 timing each")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    rlts(cloud("circle", 200), L_0=16, gamma=1 / 8, i_max=10, n=2)  # warm up imports
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
        if diff > 1e-9:
            raise SystemExit(f"fast and reference modes disagree (max RLT difference {diff:.3g})")
    print(f"fast/reference speed ratio: {', '.join(f'{r:.1f}x' for r in ratios)}")


if __name__ == "__main__":
    main()
