"""The 2D toy distributions (seeded, split-dependent, where their modes are) and the mode-coverage
metric on samples whose answer is known."""

from __future__ import annotations

import importlib.resources
import math
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from genbench.data.build import build_dataset
from genbench.data.datamodule import GenDataModule
from genbench.data.toy import Circle, Grid25, Ring8, SwissRoll
from genbench.metrics.modes import ModeCoverage

N = 4000
CLASSES = {"ring8": Ring8, "grid25": Grid25, "circle": Circle, "swissroll": SwissRoll}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def nearest_mode_distance(points: torch.Tensor, modes: torch.Tensor) -> torch.Tensor:
    # exact pairwise distances (no matmul shortcut): (n, 1, 2) - (1, k, 2)
    return (points[:, None, :] - modes[None, :, :]).norm(dim=2).min(dim=1).values


# --------------------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_shapes_and_interface(name):
    ds = CLASSES[name](n=N, seed=0)
    for split in ("train", "test"):
        x = ds.load(split)
        assert x.shape == (N, 2)
        assert x.dtype == torch.float32
        assert torch.isfinite(x).all()
    assert ds.shape == (2,) and ds.is_image is False
    assert ds.labels("train") is None


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_same_seed_same_data_other_seed_other_data(name):
    cls = CLASSES[name]
    a = cls(n=N, seed=3).load("train")
    assert torch.equal(a, cls(n=N, seed=3).load("train"))
    assert torch.equal(a, cls(n=N, seed=3).load("train"))  # loading is repeatable, not a consumed stream
    assert not torch.allclose(a, cls(n=N, seed=4).load("train"))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_train_and_test_splits_differ(name):
    ds = CLASSES[name](n=N, seed=0)
    assert not torch.allclose(ds.load("train"), ds.load("test"))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_no_seed_split_collision(name):
    # seed 0's test split must not be seed 1's (or any other seed's) train split
    cls = CLASSES[name]
    assert not torch.allclose(cls(n=N, seed=0).load("test"), cls(n=N, seed=1).load("train"))
    assert not torch.allclose(cls(n=N, seed=1).load("test"), cls(n=N, seed=2).load("train"))


def test_the_global_rng_does_not_change_the_data():
    torch.manual_seed(1)
    a = Ring8(n=100, seed=0).load("train")
    torch.manual_seed(2)
    assert torch.equal(a, Ring8(n=100, seed=0).load("train"))


def test_ring8_modes_are_8_points_at_radius_2():
    modes = Ring8().modes
    assert modes.shape == (8, 2)
    assert torch.allclose(modes.norm(dim=1), torch.full((8,), 2.0), atol=1e-6)
    # angles k * 45 degrees, k = 0..7: (2, 0), (sqrt 2, sqrt 2), (0, 2), ...
    angles = torch.atan2(modes[:, 1], modes[:, 0]).remainder(2 * math.pi)
    expected = torch.arange(8) * (math.pi / 4)
    assert torch.allclose(angles, expected, atol=1e-5)
    assert torch.allclose(modes[0], torch.tensor([2.0, 0.0]))
    assert torch.allclose(modes[1], torch.tensor([math.sqrt(2), math.sqrt(2)]))


def test_ring8_radius_option():
    assert torch.allclose(Ring8(radius=5.0).modes.norm(dim=1), torch.full((8,), 5.0))


def test_grid25_modes():
    modes = Grid25().modes
    assert modes.shape == (25, 2)
    ticks = {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert {tuple(p) for p in modes.tolist()} == {(a, b) for a in ticks for b in ticks}
    assert Grid25().std == 0.05  # its default, not the base class's 0.02


@pytest.mark.parametrize("cls", [Ring8, Grid25], ids=["ring8", "grid25"])
def test_mixture_samples_are_close_to_modes_and_balanced(cls):
    ds = cls(n=N * 2, seed=0)
    x = ds.load("train")
    # the distance to the nearest mode is Rayleigh(std): P(> 5 std) = exp(-12.5) ~ 4e-6 per point
    dist = nearest_mode_distance(x, ds.modes)
    assert dist.max() <= 5 * ds.std
    # and really spread with that std: mean of a Rayleigh(s) is s sqrt(pi / 2) ~ 1.2533 s
    assert dist.mean().item() == pytest.approx(ds.std * math.sqrt(math.pi / 2), rel=0.05)
    # equal weights: each of k modes gets n / k points, binomial std sqrt(n (1/k)(1 - 1/k))
    counts = torch.bincount((x[:, None, :] - ds.modes[None]).norm(dim=2).argmin(1), minlength=len(ds.modes))
    k, n = len(ds.modes), len(x)
    sd = math.sqrt(n * (1 / k) * (1 - 1 / k))
    assert (counts - n / k).abs().max() <= 5 * sd


def test_ring8_std_option():
    x = Ring8(n=N, std=0.1, seed=0).load("train")
    dist = nearest_mode_distance(x, Ring8().modes)
    # Rayleigh(0.1) has mean 0.1253, far above the default std's 0.025
    assert dist.mean().item() == pytest.approx(0.1 * math.sqrt(math.pi / 2), rel=0.05)


def test_circle_points_lie_on_the_circle():
    ds = Circle(n=N, radius=1.5, seed=0)
    x = ds.load("train")
    assert ds.std == 0.0 and ds.modes is None
    assert torch.allclose(x.norm(dim=1), torch.full((N,), 1.5), atol=1e-5)
    # uniform angle: each quadrant holds about a quarter (binomial std sqrt(4000 * 3/16) ~ 27)
    quadrant = (torch.atan2(x[:, 1], x[:, 0]).remainder(2 * math.pi) // (math.pi / 2)).long()
    assert ((torch.bincount(quadrant, minlength=4) - N / 4).abs() <= 5 * 27.4).all()


def test_circle_with_noise():
    x = Circle(n=N, std=0.1, seed=0).load("train")
    # radial deviation ~ N(0, 0.1) to first order
    assert (x.norm(dim=1) - 1).std().item() == pytest.approx(0.1, rel=0.1)


def test_swissroll_range():
    ds = SwissRoll(n=N, seed=0)
    x = ds.load("train")
    assert ds.std == 0.05
    # t in [1.5 pi, 4.5 pi], radius t / 7.5 in [0.628, 1.885]; noise std 0.05 moves a point by < 5 * 0.05 * sqrt 2
    r = x.norm(dim=1)
    slack = 5 * 0.05 * math.sqrt(2)
    assert r.min() >= 1.5 * math.pi / 7.5 - slack
    assert r.max() <= 4.5 * math.pi / 7.5 + slack
    assert x.abs().max() <= 2.0 + slack
    # noiseless: exactly on the spiral r = t / 7.5 with angle t, i.e. (r cos(7.5 r), r sin(7.5 r))
    clean = SwissRoll(n=200, std=0.0, seed=0).load("train")
    r = clean.norm(dim=1)
    on_spiral = torch.stack([r * torch.cos(7.5 * r), r * torch.sin(7.5 * r)], 1)
    assert torch.allclose(clean, on_spiral, atol=1e-4)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_instantiate_from_the_dataset_yaml(name):
    # the YAML carries name and batch_size too: build_dataset hands the class only its own arguments
    cfg = OmegaConf.create((importlib.resources.files("genbench.conf") / "dataset" / f"{name}.yaml").read_text())
    cfg.n = 64
    ds = build_dataset(cfg, seed=5)
    assert isinstance(ds, CLASSES[name]) and ds.seed == 5
    assert ds.load("train").shape == (64, 2)
    assert ds.std == cfg.std


# ---------------------------------------------------------------------------------- mode coverage


def ring_data(std: float = 0.02):
    return SimpleNamespace(dataset=SimpleNamespace(modes=Ring8().modes, std=std))


def test_mode_coverage_applies_to_mixtures_only():
    metric = ModeCoverage()
    assert metric.applies(GenDataModule(Ring8(n=100), batch_size=10, seed=0))
    assert metric.applies(GenDataModule(Grid25(n=100), batch_size=10, seed=0))
    assert not metric.applies(GenDataModule(Circle(n=100), batch_size=10, seed=0))
    assert not metric.applies(GenDataModule(SwissRoll(n=100), batch_size=10, seed=0))
    assert metric.headline == "modes/hq_fraction" and metric.higher_is_better


def test_exact_mode_samples_cover_all_modes():
    # 25 copies of each of the 8 modes: every sample at distance 0, every mode has 25 >= 20 samples
    samples = Ring8().modes.repeat(25, 1)
    out = ModeCoverage(sigmas=3.0, min_count=20)(samples, GenDataModule(Ring8(n=100), batch_size=10, seed=0))
    assert out["modes/covered"] == 8.0
    assert out["modes/hq_fraction"] == 1.0
    assert all(isinstance(v, float) for v in out.values())  # plain floats, for JSON and loggers


def test_real_data_covers_all_modes():
    dm = GenDataModule(Ring8(n=2000, seed=0), batch_size=10, seed=0)
    out = ModeCoverage()(dm.dataset.load("test"), dm)
    # 2000 points at std 0.02: P(> 3 std) = exp(-4.5) = 1.1%, so hq ~ 0.989
    assert out["modes/covered"] == 8.0
    assert out["modes/hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)


def test_collapsed_samples_cover_one_mode():
    samples = Ring8().modes[3].repeat(200, 1)
    out = ModeCoverage()(samples, ring_data())
    assert out["modes/covered"] == 1.0
    assert out["modes/hq_fraction"] == 1.0


def test_far_samples_cover_nothing():
    samples = torch.full((200, 2), 100.0)
    out = ModeCoverage()(samples, ring_data())
    assert out["modes/covered"] == 0.0
    assert out["modes/hq_fraction"] == 0.0


def test_origin_is_not_high_quality():
    # the centre of the ring is 2 away from every mode: 2 > 3 * 0.02
    out = ModeCoverage()(torch.zeros(100, 2), ring_data())
    assert out["modes/covered"] == 0.0 and out["modes/hq_fraction"] == 0.0


def test_high_quality_threshold_is_sigmas_times_std():
    # mode 0 is (2, 0); std 0.02, sigmas 3 -> radius 0.06.  Points at 0.05 (in) and 0.07 (out), 30 each
    inside = torch.tensor([[2.05, 0.0]]).repeat(30, 1)
    outside = torch.tensor([[2.0, 0.07]]).repeat(30, 1)
    out = ModeCoverage(sigmas=3.0, min_count=20)(torch.cat([inside, outside]), ring_data())
    assert out["modes/hq_fraction"] == pytest.approx(0.5)
    assert out["modes/covered"] == 1.0
    # sigmas 4 -> radius 0.08: both in
    out = ModeCoverage(sigmas=4.0, min_count=20)(torch.cat([inside, outside]), ring_data())
    assert out["modes/hq_fraction"] == 1.0


def test_min_count_decides_coverage():
    # 19 samples at mode 0, 20 at mode 1, 21 at mode 2: with min_count 20, modes 1 and 2 are covered
    modes = Ring8().modes
    samples = torch.cat([modes[0].repeat(19, 1), modes[1].repeat(20, 1), modes[2].repeat(21, 1)])
    out = ModeCoverage(min_count=20)(samples, ring_data())
    assert out["modes/covered"] == 2.0
    assert out["modes/hq_fraction"] == 1.0
    assert ModeCoverage(min_count=19)(samples, ring_data())["modes/covered"] == 3.0


def test_low_quality_samples_do_not_count_towards_coverage():
    # 30 samples 0.5 away from mode 0 (nearest mode is 0, but far): mode 0 is not covered
    samples = torch.tensor([[2.5, 0.0]]).repeat(30, 1)
    out = ModeCoverage(min_count=20)(samples, ring_data())
    assert out["modes/covered"] == 0.0


def test_grid25_exact_modes_are_all_covered():
    ds = Grid25(n=100)
    out = ModeCoverage()(ds.modes.repeat(20, 1), SimpleNamespace(dataset=ds))  # 20 per mode = min_count
    assert out["modes/covered"] == 25.0
    assert out["modes/hq_fraction"] == 1.0


def test_double_precision_samples():
    ds = Grid25(n=100)
    samples = ds.modes.double().repeat(20, 1)  # float64, as a generator trained with 64-true gives
    out = ModeCoverage()(samples, SimpleNamespace(dataset=ds))
    assert out["modes/covered"] == 25.0
    assert out["modes/hq_fraction"] == 1.0
