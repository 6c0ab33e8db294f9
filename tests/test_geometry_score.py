"""Geometry Score: the fast complex equals the reference's (point clouds and arbitrary tables), hand-checkable
topology, the notebook's circle-vs-disc gap, a collapsed generator, and `metrics=[gs]` through the real CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import read_json, run_genbench

from genbench.errors import ConfigError
from genbench.metrics.geometry_score import GeometryScore, geom_score, landmark_draws, mrlt, rlts
from genbench.metrics.topology import (
    pairwise_distances,
    relative_living_times,
    simplex_tree,
    witness_intervals_fast,
    witness_intervals_reference,
)
from genbench.metrics.witness_kernel import Workspace

gudhi = pytest.importorskip("gudhi")


def circle(n, rng, noise=0.0):
    angle = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(angle), np.sin(angle)], 1) + noise * rng.standard_normal((n, 2))


def disc(n, rng):
    angle, radius = rng.uniform(0, 2 * np.pi, n), np.sqrt(rng.uniform(0, 1, n))
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)


def filtration(tree):
    return sorted((tuple(s), f) for s, f in tree.get_filtration())


@pytest.mark.parametrize("n_points, L_0, gamma, noise", [(400, 32, 1 / 8, 0.0), (1000, 64, None, 0.05),
                                                          (300, 16, 0.5, 0.3), (200, 8, 1.0, 0.5)])
def test_fast_complex_equals_reference_for_the_same_landmarks(n_points, L_0, gamma, noise):
    rng = np.random.default_rng(n_points)
    points = circle(n_points, rng, noise)
    gamma = gamma or n_points / 5000 / 128
    for idx in landmark_draws(n_points, L_0, 4, seed=L_0):  # with replacement, as the reference
        ref_int, ref_alpha, ref_tree = witness_intervals_reference(points, idx, gamma)
        fast_int, fast_alpha, fast_tree = witness_intervals_fast(pairwise_distances(points, points[idx]), gamma)
        assert fast_alpha == ref_alpha
        assert filtration(fast_tree) == filtration(ref_tree)  # every simplex, every filtration value
        np.testing.assert_array_equal(np.sort(fast_int, 0), np.sort(ref_int, 0))


def test_compiled_rule_equals_gudhi_on_any_table():
    """The compiled loop against gudhi's WitnessComplex on tables no point cloud gives: distances that break
    the triangle inequality (vertices with non-zero values, simplices with a missing face), many ties, 1 or 2
    landmarks, no relaxation and a relaxation that admits everything."""
    rng = np.random.default_rng(7)
    for trial in range(80):
        n_wit, n_land = int(rng.integers(5, 60)), int(rng.integers(1, 12))
        dist = rng.uniform(0, 1, (n_wit, n_land))
        dist = np.round(dist, 1) if trial % 2 else dist
        alpha = float(rng.choice([0.0, 0.05, 0.3, 10.0])) * dist.max()
        order = np.argsort(dist, axis=1)
        table = np.dstack([order, np.take_along_axis(dist, order, 1)])
        reference = gudhi.WitnessComplex(nearest_landmark_table=table).create_simplex_tree(
            max_alpha_square=alpha, limit_dimension=2)
        fast = simplex_tree(Workspace(n_land).build(dist, alpha))
        assert filtration(fast) == filtration(reference), (trial, n_wit, n_land, alpha)


@pytest.mark.parametrize("points, kwargs", [
    (circle(500, np.random.default_rng(0), 0.02), dict(L_0=24, gamma=1 / 8, i_max=10, n=12, seed=3)),
    # 3-D, several batches of draws (the last one partial), many repeated landmarks
    (np.random.default_rng(1).standard_normal((300, 3)), dict(L_0=16, gamma=0.1, i_max=20, n=60, seed=4)),
])
def test_reference_and_fast_modes_give_the_same_rlts(points, kwargs):
    np.testing.assert_array_equal(rlts(points, mode="fast", **kwargs), rlts(points, mode="reference", **kwargs))


def test_too_many_landmarks_for_the_fast_mode():
    from genbench.metrics import geometry_score, witness_kernel

    # the config check keeps its own copy of the kernel's bound (numba loads slowly): they must agree
    assert geometry_score.MAX_FAST_LANDMARKS == witness_kernel.MAX_LANDMARKS
    with pytest.raises(ConfigError, match="mode=reference"):
        GeometryScore(L_0=500)
    with pytest.raises(ConfigError, match="at most 294 landmarks"):
        GeometryScore(L_0=witness_kernel.MAX_LANDMARKS + 1)
    GeometryScore(L_0=witness_kernel.MAX_LANDMARKS)
    GeometryScore(L_0=500, mode="reference")


def test_hand_checkable_topology():
    """Points on a circle: one hole born early that lives to the end; a filled disc: only short-lived noise."""
    rng = np.random.default_rng(0)
    ring = circle(600, rng)
    idx = np.arange(0, 600, 20)  # 30 distinct landmarks
    intervals, alpha, _ = witness_intervals_reference(ring, idx, 1 / 8)
    long = intervals[(np.minimum(intervals[:, 1], alpha) - intervals[:, 0]) > 0.5 * alpha]
    assert len(long) == 1 and np.isinf(long[0, 1])
    filled = disc(600, rng)
    intervals, alpha, _ = witness_intervals_reference(filled, idx, 1 / 8)
    assert np.isfinite(intervals).all() and (intervals[:, 1] - intervals[:, 0]).max() < 0.5 * alpha


def test_relative_living_times_by_hand():
    # alpha 1: [0, .2) no hole, [.2, .5) one, [.5, .6) two, [.6, 1] one (the infinite one, clipped)
    rlt = relative_living_times(np.array([[0.2, np.inf], [0.5, 0.6]]), 1.0, i_max=4)
    np.testing.assert_allclose(rlt, [0.2, 0.7, 0.1, 0.0])
    np.testing.assert_allclose(relative_living_times(np.zeros((0, 2)), 1.0, 3), [1, 0, 0])
    np.testing.assert_allclose(relative_living_times(np.zeros((0, 2)), 0.0, 3), [1, 0, 0])
    assert relative_living_times(np.array([[0.0, 1.0]] * 3), 1.0, i_max=3).sum() == 0  # 3 holes: beyond i_max


def test_circle_vs_circle_far_below_circle_vs_disc():
    """The reference notebook's settings (n=100, L_0=32, gamma=1/8, i_max=10); it reported 1.83 for one run."""
    rng = np.random.default_rng(1)
    kwargs = dict(L_0=32, gamma=1 / 8, i_max=10, n=100, mode="fast")
    c1, c2, d = (mrlt(x, seed=s, **kwargs) for s, x in enumerate([circle(1000, rng), circle(1000, rng),
                                                                 disc(1000, rng)]))
    same, different = geom_score(c1, c2), geom_score(c1, d)
    assert c1[1] > 0.9 and d[0] > 0.7  # one hole most of the time; a disc mostly none
    assert same < 1e-3 and 1.0 < different < 2.5, (same, different)


class Data:
    """A stand-in datamodule with ring8's real samples."""

    is_image = False

    def __init__(self, real):
        self.real = real

    def real_samples(self, n):
        return self.real[:n]


def test_collapsed_generator_scores_worse():
    from genbench.data.toy import Ring8

    ring = Ring8(seed=0)
    real, good = ring.load("train")[:400], ring.load("test")[:400]
    one_mode = ring.modes[0] + ring.std * torch.randn(400, 2, generator=torch.Generator().manual_seed(0))
    metric = GeometryScore(L_0=16, gamma=0.4, i_max=10, n=20)  # gamma large enough to link the 8 modes
    scores = {name: metric(x, Data(real))["gs/score"] for name, x in
              [("good", good), ("one mode", one_mode), ("one point", torch.zeros(400, 2))]}
    assert scores["good"] < 0.2 * min(scores["one mode"], scores["one point"]), scores


@pytest.mark.slow
def test_cli_gs_writes_score_and_histogram(tmp_path):
    result = run_genbench(["hydra.run.dir=run", "dataset=circle", "metrics=[gs]", "train.max_steps=20",
                           "eval.every=10", "eval.n=400", "metrics.gs.n=5", "metrics.gs.L_0=16",
                           "logger=csv"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert [h["step"] for h in metrics["history"]] == [10, 20]
    assert metrics["final"]["gs/score"] >= 0 and metrics["best"]["metric"] == "gs/score"
    assert metrics["best"]["mode"] == "min"
    for step in (10, 20):
        assert (tmp_path / "run" / "metrics" / f"gs_step_{step}.png").stat().st_size > 1000
