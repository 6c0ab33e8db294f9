"""`genbench -m hparams_search=ring8_gan`: Hydra's Optuna sweeper runs trials through genbench, each returning its
final monitored metric, and keeps the study in SQLite so a second invocation continues it."""

from __future__ import annotations

import math

import pytest
from conftest import read_json, run_genbench

optuna = pytest.importorskip("optuna", reason="needs the cluster extra: pip install .[cluster]")

TINY = ["logger=none", "train.max_steps=60", "train.log_every=30", "eval.every=60", "eval.n=500",
        "hardware.threads=1"]


def test_optuna_search_runs_trials_and_continues_its_stored_study(tmp_path):
    first = run_genbench(["-m", "hparams_search=ring8_gan", "hydra.sweeper.n_trials=3", "hydra.sweep.dir=search1",
                          *TINY], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    said = first.stdout + first.stderr
    assert "sweep done: 3 jobs in search1 (3 completed); the table: genbench-table search1" in said, said[-3000:]
    db = tmp_path / "outputs" / "hparams_search" / "ring8_gan.db"
    assert db.is_file()
    study = optuna.load_study(study_name="ring8_gan", storage=f"sqlite:///{db}")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE  # modes/hq_fraction: higher is better
    trials = sorted(study.trials, key=lambda t: t.number)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    for trial in trials:  # each trial's value is its job's final metric, its params the job's overrides
        job = tmp_path / "search1" / str(trial.number)
        record = read_json(job / "run.json")
        assert record["status"] == "completed" and record["generator_steps"] == 60
        assert math.isclose(trial.value, read_json(job / "metrics.json")["final"]["modes/hq_fraction"])
        assert f"model.opt_d.lr={trial.params['model.opt_d.lr']}" in record["overrides"]
        assert 1e-5 <= trial.params["model.opt_g.lr"] <= 3e-3 and 0.01 <= trial.params["reg.gp0.weight"] <= 10

    second = run_genbench(["-m", "hparams_search=ring8_gan", "hydra.sweeper.n_trials=1", "hydra.sweep.dir=search2",
                           *TINY], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Using an existing study" in second.stdout + second.stderr
    study = optuna.load_study(study_name="ring8_gan", storage=f"sqlite:///{db}")
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert read_json(tmp_path / "search2" / "0" / "run.json")["status"] == "completed"
    assert (tmp_path / "search2" / "optimization_results.yaml").is_file()


def _direction(*overrides: str) -> str:
    """Optuna's direction as the search config resolves it (hydra.sweeper.direction), composed in-process."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from genbench.runs.hparams import register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module("genbench.conf", version_base="1.3"):
        cfg = compose("config", ["hparams_search=ring8_gan", *overrides], return_hydra_config=True)
    return cfg.hydra.sweeper.direction


def test_direction_follows_the_monitored_metric():
    from omegaconf.errors import InterpolationResolutionError as ConfigErrorWhileResolving  # wraps the ConfigError

    assert _direction() == "maximize"  # modes/hq_fraction
    assert _direction("dataset=mnist", "metrics=[fid]", "eval.monitor=auto") == "minimize"
    assert _direction("dataset=mnist", "metrics=[modes,fid,is]", "eval.monitor=is/mean") == "maximize"
    assert _direction("dataset=mnist", "metrics=[fid]", "eval.monitor=fid/value", "eval.mode=max") == "maximize"
    with pytest.raises(ConfigErrorWhileResolving, match="ConfigError.*eval.mode=max"):
        _direction("eval.monitor=modes/covered")
    with pytest.raises(ConfigErrorWhileResolving, match="none of the chosen metrics applies to dataset ring8"):
        _direction("metrics=[fid]", "eval.monitor=auto")


def test_direction_is_the_one_training_monitors_when_the_first_metric_does_not_apply():
    """metrics=[fid,modes] on ring8: FID does not apply to 2D points, so training monitors modes/hq_fraction
    (higher is better) and the search must maximize it (it once minimized it: FID's direction)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from genbench.metrics.choice import choose_for

    assert _direction("metrics=[fid,modes]", "eval.monitor=auto") == "maximize"
    GlobalHydra.instance().clear()
    with initialize_config_module("genbench.conf", version_base="1.3"):
        cfg = compose("config", ["metrics=[fid,modes]"])
    choice = choose_for(cfg)  # what train.run hands the Evaluator
    assert (choice.monitor, choice.mode) == ("modes/hq_fraction", "max")
    assert [m.headline for m in choice.metrics] == ["modes/hq_fraction"]
