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
from genbench.runs.config_checks import check_config


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


def test_fid_refuses_fewer_than_two_rows_at_once():
    """One row gives np.cov a NaN covariance; sqrtm of it failed after 13 s at d = 64 and did not return in 13
    minutes at d = 2048. The guard answers before any sqrtm."""
    import time

    x = _gauss(50, 2048, 0, 1, 20)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="at least 2"):
        fid_from_features(x[:1], x)
    with pytest.raises(ValueError, match="at least 2"):
        fid_from_features(x, x[:1])
    with pytest.raises(ValueError, match="non-finite"):
        frechet_distance(np.zeros(3), np.full((3, 3), np.nan), np.zeros(3), np.eye(3))
    assert time.perf_counter() - start < 1
    assert np.isfinite(fid_from_features(x[:2, :4], x[2:4, :4]))  # 2 rows are enough (degenerate, but defined)


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
    mean, std = kid(x, y)  # subsets of 40 (not 1000): x's 40 of 50 differ between subsets
    assert mean > 0 and std > 1e-6
    with pytest.raises(ValueError):
        kid(x[:1], y)


def test_kid_std_only_when_the_subsets_differ():
    """With n <= subset_size on both sides every subset is the whole sample: the 100 values agree to ~1e-16, so
    no std is reported (and the value is computed once); the metric leaves kid/std out and says why."""
    x, y = _gauss(40, 4, 0, 1, 21), _gauss(40, 4, 1, 1, 22)
    mean, std = kid(x, y, subsets=100, subset_size=1000)
    assert std is None
    one = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    assert mean == pytest.approx(one, rel=1e-12)
    assert kid(x, y, subsets=1, subset_size=20)[1] is None  # one subset: no spread either
    mean20, std20 = kid(x, y, subsets=50, subset_size=20)  # real subsets of 20 of 40: a real spread
    assert std20 > 1e-3 * abs(mean20)


def test_kid_metric_leaves_std_out_and_logs_why(caplog):
    from genbench.metrics.kid import KID

    metric = KID.__new__(KID)  # the math only: no feature bank
    metric.subsets, metric.subset_size, metric.degree, metric._said_why = 100, 1000, 3, False
    x, y = torch.as_tensor(_gauss(30, 4, 0, 1, 23)), torch.as_tensor(_gauss(30, 4, 1, 1, 24))
    metric.reference = lambda fake, data: {"pool": x}
    with caplog.at_level("INFO", logger="genbench"):
        out = metric.score({"pool": y}, None)
        again = metric.score({"pool": y}, None)
    assert set(out) == {"kid/mean"} and out == again
    reasons = [r.getMessage() for r in caplog.records if "kid/std left out" in r.getMessage()]
    assert len(reasons) == 1 and "n = 30 <= subset_size 1000" in reasons[0]
    metric.subset_size = 10
    assert set(metric.score({"pool": y}, None)) == {"kid/mean", "kid/std"}


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


def test_inception_score_splits_in_order_or_shuffled_as_torch_fidelity():
    """metrics.is.shuffle=false slices the samples in order (Salimans et al.'s code); true permutes them first with
    numpy.random.RandomState(2020), as torch-fidelity does. Logits sorted by class make the difference plain."""
    k, per = 10, 50
    labels = np.repeat(np.arange(k), per)  # sorted: each consecutive split holds one class
    logits = torch.as_tensor(np.eye(k)[labels] * 20.0)
    in_order, _ = inception_score(logits, splits=10)
    assert in_order == pytest.approx(1.0, abs=1e-6)  # one class per split: p(y|x) = p(y)
    shuffled, shuffled_std = inception_score(logits, splits=10, shuffle=True)
    # torch-fidelity's protocol written out: permute, then the formula on consecutive slices
    perm = np.random.RandomState(2020).permutation(len(labels))
    p = torch.softmax(logits[perm].double(), dim=1).numpy()
    scores = []
    for i in range(10):
        part = p[i * len(p) // 10:(i + 1) * len(p) // 10]
        kl = part * (np.log(part) - np.log(part.mean(axis=0, keepdims=True)))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    assert shuffled == pytest.approx(np.mean(scores), rel=1e-12)
    assert shuffled_std == pytest.approx(np.std(scores), rel=1e-9)
    assert 7 < shuffled <= k


def _prdc_reference(real, fake, k_pr, k_dc, dc_inside=np.less):
    """The reference definitions with exact distances: precision/recall count d <= radius (kynkaat's
    precision_recall.py), density/coverage d < radius (clovaai's prdc.py); radius = (k+1)-th smallest distance
    from a point to its own set, itself included. `dc_inside=np.less_equal`: the old, non-reference boundary."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    drr, dff, drf = dist(real, real), dist(fake, fake), dist(real, fake)
    rr_pr, rf_pr = np.sort(drr, axis=1)[:, k_pr], np.sort(dff, axis=1)[:, k_pr]
    rr_dc = np.sort(drr, axis=1)[:, k_dc]
    return {"precision": (drf <= rr_pr[:, None]).any(axis=0).mean(),
            "recall": (drf <= rf_pr[None, :]).any(axis=1).mean(),
            "density": dc_inside(drf, rr_dc[:, None]).sum(axis=0).mean() / k_dc,
            "coverage": dc_inside(drf.min(axis=1), rr_dc).mean()}


def test_prdc_on_copies_of_the_real_samples_by_hand():
    """A generator that memorized: 6 copies each of two real points, 1-D. Every real point has 5 exact copies, so
    its k = 3 and k = 5 radii are 0. Precision/recall (<=, Kynkäänniemi et al.) count the copies: 1 and 1. Density
    and coverage (<, Naeem et al.) count nothing inside a ball of radius 0: 0 and 0 (with <= they would be
    6/5 = 1.2 and 1)."""
    real = torch.tensor([[0.0]] * 6 + [[10.0]] * 6)
    out = prdc(real, real.clone(), k_pr=3, k_dc=5)
    assert out == {"precision": 1.0, "recall": 1.0, "density": 0.0, "coverage": 0.0}
    # one fake point off the copies: inside no ball of radius 0
    fake = torch.cat([real[:11], torch.tensor([[5.0]])])
    assert prdc(real, fake, 3, 5) == pytest.approx({"precision": 11 / 12, "recall": 1.0, "density": 0.0,
                                                    "coverage": 0.0})


def test_prdc_on_quantized_features_matches_the_reference_definitions():
    """Integer features in 4-D (quantized: many tied distances, some exact copies), and the same at d = 2048 where
    the |a|^2 + |b|^2 - 2 a.b expansion would put copies ~1e-6 apart."""
    rng = np.random.default_rng(25)
    real, fake = rng.integers(0, 3, (300, 4)).astype(float), rng.integers(0, 3, (250, 4)).astype(float)
    ours = prdc(torch.as_tensor(real), torch.as_tensor(fake), 3, 5)
    ref = _prdc_reference(real, fake, 3, 5)
    assert ours == pytest.approx(ref, abs=1e-12)
    # the boundary matters on these features: <= for density and coverage gives other numbers
    loose = _prdc_reference(real, fake, 3, 5, dc_inside=np.less_equal)
    assert loose["density"] > 2 * ref["density"] and loose["coverage"] > ref["coverage"] + 0.1
    # high-dimensional copies: real = 40 points drawn twice each, fake = 30 of them again
    base = rng.normal(size=(40, 2048)) * 3
    real_hd = np.concatenate([base, base])
    fake_hd = np.concatenate([base[:30], rng.normal(size=(30, 2048)) * 3])
    ours_hd = prdc(torch.as_tensor(real_hd), torch.as_tensor(fake_hd), 3, 5)
    assert ours_hd == pytest.approx(_prdc_reference(real_hd, fake_hd, 3, 5), abs=1e-12)


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


# ------------------------------------------------------------------------------ sample minimums, at config time


def _checked(*overrides: str):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="genbench.conf", version_base="1.3"):
        check_config(compose(config_name="config", overrides=list(overrides)))


@pytest.mark.parametrize(("overrides", "expected"), [
    (["metrics=[fid]", "eval.n=1"], "eval.n=1 is too few for metrics=fid"),
    (["metrics=[kid]", "eval.n=1"], "eval.n=1 is too few for metrics=kid"),
    (["metrics=[kid]", "metrics.kid.subset_size=1"], "metrics.kid.subset_size=1 is too few"),
    (["metrics=[prdc]", "eval.n=5"], "eval.n=5 is too few for metrics=prdc"),
    (["metrics=[prdc]", "eval.n=50", "metrics.prdc.k_dc=50"], "choose eval.n=51 or more"),
    (["metrics=[is]", "metrics.is.shuffle=maybe"], "metrics.is.shuffle='maybe'"),
])
def test_too_few_samples_fail_with_the_config(overrides, expected):
    from genbench.errors import ConfigError

    with pytest.raises(ConfigError, match=expected.replace("[", r"\[")) as err:
        _checked(*overrides)
    assert "\n" not in str(err.value)


def test_the_least_sample_counts_pass():
    _checked("metrics=[fid,kid]", "eval.n=2")
    _checked("metrics=[prdc]", "eval.n=6")
    _checked("metrics=[is]", "metrics.is.shuffle=true", "eval.n=1")


def test_fid_with_one_sample_fails_on_the_command_line_at_once(tmp_path):
    import time

    from conftest import run_genbench

    start = time.perf_counter()
    result = run_genbench(["dataset=mnist", "metrics=[fid]", "eval.n=1"], tmp_path, timeout=120)
    assert time.perf_counter() - start < 60
    errors = [line for line in result.stderr.splitlines() if line.startswith("genbench: error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
    assert "eval.n=1 is too few for metrics=fid" in errors[0] and "eval.n=2" in errors[0]
    assert "Traceback" not in result.stderr and not list(tmp_path.rglob("*.ckpt"))
