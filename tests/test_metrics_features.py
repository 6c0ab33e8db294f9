"""The feature metrics' math on constructed feature sets: FID, KID, IS, PRDC; the reference cache."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from genbench.metrics.fid import fid_from_features, frechet_distance, gaussian_stats
from genbench.metrics.inception_score import inception_score
from genbench.metrics.kid import kid, mmd2_unbiased, polynomial_kernel
from genbench.metrics.prdc import prdc


def _gauss(n, d, mean, scale, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * scale + mean


def test_fid_of_a_set_with_itself_is_zero():
    x = _gauss(500, 16, 0.3, 1.5, 0)
    assert fid_from_features(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_equals_the_closed_form_for_gaussians():
    rng = np.random.default_rng(1)
    d = 6
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a @ a.T + np.eye(d), b @ b.T + 0.5 * np.eye(d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    # closed form, computed another way: Tr((S1 S2)^(1/2)) = Tr((S1^(1/2) S2 S1^(1/2))^(1/2)), symmetric PSD
    r1 = scipy.linalg.sqrtm(s1).real
    inner = np.linalg.eigvalsh(r1 @ s2 @ r1)
    expected = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(inner, 0, None)))
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-9)
    # and on samples drawn from those Gaussians, within sampling error
    n = 200_000
    x = rng.multivariate_normal(m1, s1, size=n)
    y = rng.multivariate_normal(m2, s2, size=n)
    assert fid_from_features(x, y) == pytest.approx(expected, rel=0.02)
    # one dimension: (m1-m2)^2 + (s1-s2)^2 in terms of standard deviations
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)


def test_fid_is_symmetric_and_grows_with_the_shift():
    x, y = _gauss(400, 8, 0, 1, 2), _gauss(400, 8, 0.5, 1.3, 3)
    assert fid_from_features(x, y) == pytest.approx(fid_from_features(y, x), rel=1e-8)
    assert fid_from_features(x, _gauss(400, 8, 1.0, 1.3, 3)) > fid_from_features(x, y) > 0


def test_fid_survives_singular_covariances():
    x = _gauss(10, 32, 0, 1, 4)  # fewer samples than dimensions: rank-deficient covariances
    y = _gauss(10, 32, 0.2, 1, 5)
    value = fid_from_features(x, y)
    assert np.isfinite(value) and value > 0


def test_fid_agrees_with_torchmetrics_on_features():
    tm = pytest.importorskip("torchmetrics.image.fid")

    class Identity(torch.nn.Module):
        num_features = 8

        def forward(self, x):
            return x.double()

    metric = tm.FrechetInceptionDistance(feature=Identity(), normalize=False)
    x = torch.as_tensor(_gauss(300, 8, 0, 1, 6))
    y = torch.as_tensor(_gauss(300, 8, 0.4, 1.2, 7))
    metric.update(x, real=True)
    metric.update(y, real=False)
    assert fid_from_features(x, y) == pytest.approx(float(metric.compute()), rel=1e-5)


def test_gaussian_stats_are_float64():
    mu, sigma = gaussian_stats(torch.randn(50, 4))
    assert mu.dtype == np.float64 and sigma.shape == (4, 4)


def test_mmd_estimator_is_the_u_statistic():
    x, y = _gauss(7, 3, 0, 1, 8), _gauss(9, 3, 1, 1, 9)
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    sxx = np.mean([k(x[i], x[j]) for i in range(7) for j in range(7) if i != j])
    syy = np.mean([k(y[i], y[j]) for i in range(9) for j in range(9) if i != j])
    sxy = np.mean([k(x[i], y[j]) for i in range(7) for j in range(9)])
    got = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    assert got == pytest.approx(sxx + syy - 2 * sxy, rel=1e-10)


def test_kid_is_unbiased_on_a_known_kernel():
    # 1-D, kernel (x y + 1)^3 (gamma = 1/d = 1): E k(x, x') has a closed form for x, x' ~ N(mu, 1) independent.
    def ek(a, b):  # E[(x y + 1)^3] = E x^3 E y^3 + 3 E x^2 E y^2 + 3 E x E y + 1
        m1 = lambda m: m  # noqa: E731
        m2 = lambda m: m * m + 1  # noqa: E731
        m3 = lambda m: m ** 3 + 3 * m  # noqa: E731
        return m3(a) * m3(b) + 3 * m2(a) * m2(b) + 3 * m1(a) * m1(b) + 1

    a, b = 0.0, 0.5
    expected = ek(a, a) + ek(b, b) - 2 * ek(a, b)
    rng = np.random.default_rng(10)
    # many small draws: the U-statistic's mean converges to the true MMD^2 (a V-statistic would not)
    same = [kid(rng.normal(a, 1, (20, 1)), rng.normal(a, 1, (20, 1)), subsets=1, subset_size=20)[0]
            for _ in range(4000)]
    diff = [kid(rng.normal(a, 1, (20, 1)), rng.normal(b, 1, (20, 1)), subsets=1, subset_size=20)[0]
            for _ in range(4000)]
    se_same, se_diff = np.std(same) / np.sqrt(len(same)), np.std(diff) / np.sqrt(len(diff))
    assert abs(np.mean(same)) < 4 * se_same
    assert abs(np.mean(diff) - expected) < 4 * se_diff


def test_kid_uses_smaller_subsets_with_fewer_samples_and_reports_std():
    x, y = _gauss(50, 4, 0, 1, 11), _gauss(40, 4, 1, 1, 12)
    mean, std = kid(x, y)  # subsets of 40 (not 1000)
    assert mean > 0 and std >= 0
    with pytest.raises(ValueError):
        kid(x[:1], y)


def test_inception_score_of_uniform_and_one_hot_logits():
    assert inception_score(torch.zeros(100, 10))[0] == pytest.approx(1.0)
    k = 10
    one_hot = torch.full((k * 20, k), -1e4)
    one_hot[torch.arange(k * 20), torch.arange(k * 20) % k] = 0  # balanced within every split
    mean, std = inception_score(one_hot, splits=10)
    assert mean == pytest.approx(k, rel=1e-6) and std == pytest.approx(0, abs=1e-6)
    collapsed = torch.full((200, k), -1e4)
    collapsed[:, 3] = 0
    assert inception_score(collapsed)[0] == pytest.approx(1.0)


def test_prdc_on_constructed_sets():
    real = torch.as_tensor(_gauss(600, 2, 0, 1, 13))
    same = prdc(real, torch.as_tensor(_gauss(600, 2, 0, 1, 14)))
    assert same["precision"] > 0.9 and same["recall"] > 0.9 and same["coverage"] > 0.9
    assert 0.8 < same["density"] < 1.2
    far = prdc(real, real + 100)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    exact = prdc(real, real)
    assert exact["precision"] == 1.0 and exact["recall"] == 1.0 and exact["coverage"] == 1.0
    # a generator that puts everything on one small region: precise, but low recall and coverage
    narrow = prdc(real, torch.as_tensor(_gauss(600, 2, 0.5, 0.05, 15)))
    assert narrow["precision"] > 0.9 and narrow["recall"] < 0.2 and narrow["coverage"] < 0.2


def test_collapsed_generator_scores_worse_on_every_metric():
    """Features of a 5-mode mixture: a good generator samples all modes, a collapsed one only mode 0."""
    rng = np.random.default_rng(16)
    centres = rng.normal(size=(5, 8)) * 4

    def draw(n, modes, seed):
        r = np.random.default_rng(seed)
        idx = r.choice(modes, n)
        return centres[idx] + r.normal(size=(n, 8)), idx

    real, _ = draw(300, np.arange(5), 17)
    good, good_idx = draw(300, np.arange(5), 18)
    bad, bad_idx = draw(300, np.array([0]), 19)
    logits = lambda idx: torch.as_tensor(np.eye(5)[idx] * 8)  # noqa: E731  a confident classifier
    assert fid_from_features(real, bad) > fid_from_features(real, good)
    assert kid(real, bad, subsets=10)[0] > kid(real, good, subsets=10)[0]
    assert inception_score(logits(bad_idx))[0] < inception_score(logits(good_idx))[0]
    g, b = prdc(real, good), prdc(real, bad)
    assert b["recall"] < g["recall"] and b["coverage"] < g["coverage"]


def test_reference_cache_is_keyed_by_protocol_and_checked(tmp_path):
    from genbench.features import FeatureBank

    class Data:
        class dataset:  # noqa: N801
            name, shape, is_image = "toyimg", (1, 8, 8), True

        calls = 0

        def real_samples(self, n, split="train"):
            Data.calls += 1
            g = torch.Generator().manual_seed(0)
            return torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)

    class Flat:
        has_logits = True
        identity = {"extractor": "flat"}

        def __call__(self, images):
            x = images.float().flatten(1)
            return {"pool": x, "logits": x[:, :3]}

    bank = FeatureBank("classifier", cache_dir=tmp_path)
    bank._extractor = Flat()
    data = Data()
    first = bank.reference(data, 16)
    (path,) = (tmp_path / "references").glob("*.pt")
    assert "toyimg-train-classifier-n16-" in path.name
    bank2 = FeatureBank("classifier", cache_dir=tmp_path)
    bank2._extractor = Flat()
    assert torch.equal(bank2.reference(data, 16)["pool"], first["pool"]) and Data.calls == 1
    bank2.reference(data, 8)  # another n: another file
    assert len(list((tmp_path / "references").glob("*.pt"))) == 2 and Data.calls == 2
    # a file whose stored protocol differs is not reused
    saved = torch.load(path, weights_only=True)
    saved["protocol"]["extractor"] = "something else"
    torch.save(saved, path)
    bank3 = FeatureBank("classifier", cache_dir=tmp_path)
    bank3._extractor = Flat()
    bank3.reference(data, 16)
    assert Data.calls == 3


def test_feature_bank_computes_features_once_per_samples_tensor(tmp_path):
    from genbench.features import FeatureBank
    from genbench.plots import to_uint8

    calls = []

    class Counting:
        has_logits = True
        identity = {"extractor": "counting"}

        def __call__(self, images):
            calls.append(len(images))
            return {"pool": images.float().flatten(1), "logits": None}

    bank = FeatureBank("classifier", cache_dir=tmp_path)
    bank._extractor = Counting()
    s = torch.rand(4, 1, 8, 8) * 2 - 1
    bank.features(s, None)
    bank.features(s, None)
    bank.features(s.clone(), None)
    assert calls == [4, 4]
    assert to_uint8(torch.tensor([-1.0, 0.0, 1.0])).tolist() == [0, 128, 255]
