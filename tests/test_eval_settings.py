"""The evaluation settings live in `eval` (every, n, monitor, mode, extractor, split, cache_dir, inception,
classifier); the metrics group lists metrics only. An old key (`metrics.every=...`) on the command line or in a
YAML gives one line naming the new key, exit code 2."""

from __future__ import annotations

import pytest
from conftest import read_json, run_genbench
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from genbench.errors import ConfigError
from genbench.runs.config_checks import check_config
from genbench.runs.moved_keys import new_key


def test_old_keys_name_their_new_place():
    assert new_key("metrics.every") == "eval.every"
    assert new_key("+metrics.classifier.epochs") == "eval.classifier.epochs"
    assert new_key("metrics.gs.n") is None and new_key("metrics.nll") is None and new_key("eval.n") is None


def test_an_old_key_left_in_the_metrics_group_is_refused_naming_the_new_one():
    GlobalHydra.instance().clear()
    with initialize_config_module("genbench.conf", version_base="1.3"):
        cfg = compose("config", ["+metrics.n=500"])
    with pytest.raises(ConfigError, match=r"metrics.n moved to eval.n .*write eval.n=500"):
        check_config(cfg)


def _one_error_line(result, expected: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"genbench: error: {expected}"), lines


def test_old_key_on_the_command_line_names_the_new_key(tmp_path):
    result = run_genbench(["metrics.every=5", "train.max_steps=1"], tmp_path, timeout=120)
    _one_error_line(result, "metrics.every moved to eval.every")
    assert "write eval.every=5" in result.stderr


def test_old_key_in_an_experiment_yaml_names_the_new_key(tmp_path):
    experiment = tmp_path / "myconf" / "experiment"
    experiment.mkdir(parents=True)
    (experiment / "old.yaml").write_text("# @package _global_\nmetrics:\n  extractor: classifier\n")
    result = run_genbench([f"hydra.searchpath=[file://{tmp_path / 'myconf'}]", "experiment=old", "train.max_steps=1"],
                          tmp_path, timeout=120)
    _one_error_line(result, "metrics.extractor moved to eval.extractor")
    assert "write eval.extractor=classifier" in result.stderr


def test_training_monitors_the_first_metric_that_applies(tmp_path):
    """metrics=[fid,modes] on ring8: FID does not apply to points, so best.ckpt follows modes/hq_fraction, higher
    being better, and the run's return value for a search is that metric (with an EMA generator, public torch)."""
    result = run_genbench(["metrics=[fid,modes]", "eval.every=10", "eval.n=200", "train.max_steps=20",
                           "train.log_every=10", "train.checkpoint_every=10", "model.ema.decay=0.9", "logger=csv",
                           "hardware.threads=1", "hydra.run.dir=run"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert metrics["best"]["metric"] == "modes/hq_fraction" and metrics["best"]["mode"] == "max"
    assert "fid/value" not in metrics["final"] and "modes/hq_fraction" in metrics["final"]
    assert (tmp_path / "run" / "checkpoints" / "best.ckpt").is_file()
