"""Birthday-paradox test: closest pairs, the near-duplicate threshold, the support estimate, a collapsed
generator, and `metrics=[birthday]` on MNIST through the real CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import genbench_env, read_json, run_genbench

from genbench.metrics.birthday import BirthdayParadox, closest_pairs, median_nn_distance, support_estimate


class Data:
    def __init__(self, real, is_image=False):
        self.real, self.is_image = real, is_image

    def real_samples(self, n):
        return self.real[:n]


def test_closest_pairs_and_median_nn():
    x = np.array([[0.0, 0], [10, 0], [10.5, 0], [0, 3], [20, 20]])
    pairs, dist = closest_pairs(x, 2)
    assert pairs.tolist() == [[1, 2], [0, 3]] and np.allclose(dist, [0.5, 3.0])
    assert median_nn_distance(x) == pytest.approx(3.0)  # nearest distances 3, .5, .5, 3, 13.2


def test_support_estimate_is_the_squared_half_probability_batch_size():
    # uniform on N items: pair collision rate 1/N; a duplicate shows with probability 1/2 at s = sqrt(2 ln2 N)
    n_items, n_samples = 1000, 3000
    dup_pairs = n_samples * (n_samples - 1) / 2 / n_items
    support, lower = support_estimate(round(dup_pairs), n_samples)
    assert not lower and support == pytest.approx(2 * math.log(2) * n_items, rel=1e-3)
    assert support_estimate(0, 500) == (250000.0, True)


def test_threshold_flags_copies_not_real_neighbours():
    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.standard_normal((1200, 16)))
    metric = BirthdayParadox(s=300, pairs=5, threshold=0.2)
    fresh = metric(torch.from_numpy(rng.standard_normal((1200, 16))), Data(real))
    assert fresh["birthday/dup_batch_fraction"] == 0 and fresh["birthday/support_is_lower_bound"] == 1
    copies = torch.from_numpy(rng.standard_normal((1200, 16)))
    copies[1::2] = copies[0::2] + 1e-3  # every sample has a twin
    twins = metric(copies, Data(real))
    assert twins["birthday/dup_batch_fraction"] == 1 and twins["birthday/closest_over_real_nn"] < 0.2
    assert twins["birthday/dup_pairs_per_batch"] == 150


def test_collapsed_generator_has_a_small_support():
    from genbench.data.toy import Ring8

    ring = Ring8(seed=0)
    real, good = ring.load("train")[:2000], ring.load("test")[:2000]
    collapsed = torch.zeros(2000, 2) + 1e-4 * torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    collapsed[::2] = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1))  # half fine, half one point
    metric = BirthdayParadox(s=400, pairs=10, threshold=0.2)
    good_support = metric(good, Data(real))["birthday/support"]
    bad = metric(collapsed, Data(real))
    assert bad["birthday/support"] < 0.01 * good_support and bad["birthday/dup_batch_fraction"] == 1


@pytest.mark.slow
def test_cli_birthday_on_mnist(tmp_path, mnist_root):
    result = run_genbench(["hydra.run.dir=run", "dataset=mnist", "metrics=[birthday]", "train.max_steps=10",
                           "eval.every=10", "eval.n=400", "metrics.birthday.s=200", "logger=csv",
                           "model.nets.width=16"], tmp_path, env=genbench_env(GENBENCH_DATA=str(mnist_root)))
    assert result.returncode == 0, result.stderr[-3000:]
    final = read_json(tmp_path / "run" / "metrics.json")["final"]
    assert final["birthday/support"] > 0 and 0 <= final["birthday/dup_batch_fraction"] <= 1
    assert (tmp_path / "run" / "metrics" / "birthday_step_10.png").stat().st_size > 1000
