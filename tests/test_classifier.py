"""The classifier extractor (trained once on MNIST with a fixed seed, cached), metrics on real digit images,
and the end-to-end run `genbench dataset=mnist metrics=[fid,is] eval.extractor=classifier`.

The budget here is small (12k images, one epoch: > 95% test accuracy); the default recipe (60k images,
2 epochs) and its recorded accuracy are in docs/metrics.md.
"""

from __future__ import annotations

import pytest
from conftest import genbench_env, read_json, run_genbench, shared_data

RECIPE = {"epochs": 1, "batch_size": 64, "train_size": 12000, "seed": 0, "width": 16}
OVERRIDES = [f"eval.classifier.{k}={v}" for k, v in RECIPE.items()]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    if not (shared_data() / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST files not found under {shared_data()}")
    return tmp_path_factory.mktemp("genbench_cache")


@pytest.fixture(scope="module")
def mnist(cache_dir):
    from genbench.data.datamodule import GenDataModule
    from genbench.data.idx import MNIST

    data = GenDataModule(MNIST(str(shared_data() / "mnist"), download=False), batch_size=64, seed=0)
    data.setup()
    return data


@pytest.fixture(scope="module")
def extractor(mnist, cache_dir):
    from genbench.features.classifier import ClassifierExtractor

    return ClassifierExtractor(mnist.dataset, cache_dir, **RECIPE)


def test_classifier_trains_cached_and_accurate(extractor, mnist, cache_dir):
    from genbench.features.classifier import ClassifierExtractor

    assert extractor.test_accuracy > 0.95
    assert extractor.path.is_file() and extractor.path.parent == cache_dir / "classifiers"
    again = ClassifierExtractor(mnist.dataset, cache_dir, **RECIPE)  # loaded, not retrained
    assert again.test_accuracy == extractor.test_accuracy
    out = again(mnist.real_samples(5))
    assert out["pool"].shape == (5, 128) and out["logits"].shape == (5, 10)


def test_collapsed_generator_scores_worse_on_real_digits(extractor, mnist, cache_dir):
    from genbench.metrics.fid import FID
    from genbench.metrics.inception_score import InceptionScore
    from genbench.metrics.kid import KID
    from genbench.metrics.prdc import PRDC

    kw = {"extractor": "classifier", "cache_dir": str(cache_dir), "classifier": RECIPE}
    metrics = [FID(**kw), KID(subsets=10, **kw), InceptionScore(**kw), PRDC(**kw)]
    assert all(m.applies(mnist) for m in metrics)
    test, labels = mnist.dataset.load("test"), mnist.dataset.labels("test")
    good = test[:500].float() / 127.5 - 1  # real test digits: a perfect generator
    ones = test[labels == 1][:500]
    bad = ones.float() / 127.5 - 1  # one mode
    score = {name: {} for name in ("good", "bad")}
    for name, samples in (("good", good), ("bad", bad)):
        for m in metrics:
            score[name].update(m(samples, mnist))
    g, b = score["good"], score["bad"]
    assert b["fid/value"] > g["fid/value"] and b["kid/mean"] > g["kid/mean"] and b["is/mean"] < g["is/mean"]
    assert b["prdc/recall"] < g["prdc/recall"] and b["prdc/coverage"] < g["prdc/coverage"]
    assert g["is/mean"] > 5 and b["is/mean"] < 2


@pytest.mark.slow
def test_cli_run_writes_fid_and_is(tmp_path, cache_dir, extractor):
    result = run_genbench(
        ["hydra.run.dir=run", "dataset=mnist", "metrics=[fid,is]", "eval.extractor=classifier",
         "train.max_steps=10", "eval.every=5", "eval.n=100", "logger=csv", *OVERRIDES],
        tmp_path, env=genbench_env(GENBENCH_DATA=str(shared_data()), GENBENCH_CACHE=str(cache_dir)))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert [h["step"] for h in metrics["history"]] == [5, 10]
    final = metrics["final"]
    assert final["fid/value"] > 0 and 1 <= final["is/mean"] <= 10 and "is/std" in final
    assert metrics["best"]["metric"] == "fid/value" and metrics["best"]["mode"] == "min"
    assert (tmp_path / "run" / "checkpoints" / "best.ckpt").is_file()
    assert "fid/value" in (tmp_path / "run" / "csv" / "metrics.csv").read_text().splitlines()[0]
