"""The default evaluation (metrics=[auto], eval.extractor=auto): image runs report FID (and IS when the extractor
has logits) with the best extractor this machine has; 2D toys keep mode coverage; offline without weights falls
back with one log line."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from conftest import genbench_env, read_json, run_genbench, shared_data
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from genbench.metrics.defaults import resolve

POOL3 = shared_data() / "inception" / "pt_inception-2015-12-05_pool3_nofc.pth"


def cfg_for(*overrides: str):
    with initialize_config_module(config_module="genbench.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def entries(cfg) -> list[str]:
    return [k for k, v in cfg.metrics.items() if isinstance(v, DictConfig) and "_target_" in v]


def images(labelled: bool):
    dataset = SimpleNamespace(is_image=True, name="pictures", shape=(1, 28, 28))
    if labelled:
        dataset.labels = lambda split="train": torch.zeros(1, dtype=torch.long)
    return SimpleNamespace(dataset=dataset)


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    """An offline machine with an empty torch hub cache."""
    monkeypatch.setenv("GENBENCH_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)


def test_toy_data_keeps_mode_coverage():
    from genbench.runs.train import build_datamodule

    cfg = cfg_for()
    data = build_datamodule(cfg)
    data.setup("fit")
    resolved, info = resolve(cfg, data)
    assert entries(resolved) == ["modes"]
    assert info == {"default_metrics": ["modes"]} and "auto" not in resolved.metrics


def test_unlabelled_images_offline_without_weights_run_without_feature_metrics(no_weights, caplog):
    with caplog.at_level(logging.INFO, logger="genbench"):
        resolved, info = resolve(cfg_for("dataset=mnist"), images(labelled=False))
    assert entries(resolved) == []
    assert info["feature_extractor"] == "none" and "offline" in info["feature_extractor_choice"]
    lines = [r.getMessage() for r in caplog.records if r.name == "genbench"]
    assert len(lines) == 1 and "evaluation: none" in lines[0] and "eval.inception.weights" in lines[0], lines


def test_labelled_images_offline_without_weights_use_the_classifier_with_is(no_weights):
    resolved, info = resolve(cfg_for("dataset=mnist", "model=infogan"), images(labelled=True))
    assert entries(resolved) == ["fid", "is", "infogan"]  # the defaults first: eval.monitor=auto takes fid/value
    assert resolved.metrics.fid.extractor == "classifier" and info["feature_extractor"] == "classifier"


def test_explicit_extractor_is_kept(no_weights):
    resolved, info = resolve(cfg_for("dataset=mnist", "eval.extractor=classifier"), images(labelled=True))
    assert resolved.metrics.fid.extractor == "classifier" and "feature_extractor_choice" not in info


@pytest.mark.skipif(not POOL3.is_file(), reason=f"Inception weights not found at {POOL3}")
def test_inception_weights_in_the_hub_cache_are_preferred_pool3_only_gives_no_is(no_weights, tmp_path):
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / POOL3.name).symlink_to(POOL3)
    resolved, info = resolve(cfg_for("dataset=mnist"), images(labelled=True))
    assert entries(resolved) == ["fid"]  # no logits: no IS
    assert resolved.metrics.fid.extractor == "inception" and info["feature_extractor"] == "inception"
    assert info["default_metrics"] == ["fid"] and "found" in info["feature_extractor_choice"]


@pytest.mark.slow
def test_cli_default_mnist_run_reports_fid_and_is_offline(tmp_path, mnist_root):
    """The README's DCGAN command on a tiny budget, offline with no Inception weights: the classifier (debug=fast's
    recipe: 12k images, one epoch, >95% test accuracy) scores FID and IS, best.ckpt follows FID; genbench-eval
    keeps the run's extractor."""
    env = genbench_env(GENBENCH_DATA=str(mnist_root), GENBENCH_CACHE=str(tmp_path / "cache"), GENBENCH_OFFLINE="1",
                       TORCH_HOME=str(tmp_path / "torch"))
    result = run_genbench(["hydra.run.dir=run", "dataset=mnist", "debug=fast", "train.max_steps=10",
                           "eval.n=200", "logger=csv", "hardware.threads=1"], tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    metrics = read_json(run / "metrics.json")
    assert metrics["protocol"]["feature_extractor"] == "classifier"
    assert "offline" in metrics["protocol"]["feature_extractor_choice"]
    assert metrics["final"]["fid/value"] > 0 and 1 <= metrics["final"]["is/mean"] <= 10
    assert metrics["best"]["metric"] == "fid/value" and metrics["best"]["mode"] == "min"
    assert (run / "checkpoints" / "best.ckpt").is_file()
    log = (run / "genbench.log").read_text()
    assert "evaluation: fid, is; features: classifier (auto: Inception weights unavailable (offline)" in log
    assert "does not apply" not in log
    again = run_genbench(["run", "eval.n=100"], tmp_path, env=env, exe="genbench-eval")
    assert again.returncode == 0, again.stderr[-3000:]
    entry = read_json(run / "eval.json")[-1]
    assert entry["feature_extractor"] == "classifier" and entry["metrics"]["fid/value"] > 0


def test_hparams_direction_knows_the_default_metrics():
    from genbench.runs.hparams import direction

    assert direction(cfg_for("hparams_search=ring8_gan")) == "maximize"  # modes/hq_fraction
    assert direction(cfg_for()) == "maximize"  # metrics=[auto] on ring8 stands for modes
    assert direction(cfg_for("eval.monitor=fid/value", "eval.mode=min")) == "minimize"
