"""`genbench -m hparams_search=ring8_gan`: Hydra's Optuna sweeper runs trials through genbench, each returning its
final monitored metric, and keeps the study in SQLite so a second invocation continues it."""

from __future__ import annotations

import math

import pytest
from conftest import read_json, run_genbench

optuna = pytest.importorskip("optuna", reason="needs the cluster extra: pip install .[cluster]")

TINY = ["logger=none", "train.max_steps=60", "train.log_every=30", "metrics.every=60", "metrics.n=500",
        "hardware.threads=1"]


def test_optuna_search_runs_trials_and_continues_its_stored_study(tmp_path):
    first = run_genbench(["-m", "hparams_search=ring8_gan", "hydra.sweeper.n_trials=3", "hydra.sweep.dir=search1",
                          *TINY], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
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


def test_direction_follows_the_monitored_metric():
    from omegaconf import OmegaConf

    from genbench.errors import ConfigError
    from genbench.runs.hparams import direction

    fid = {"_target_": "genbench.metrics.fid.FID"}
    modes = {"_target_": "genbench.metrics.modes.ModeCoverage"}
    assert direction(OmegaConf.create({"monitor": "auto", "mode": "auto", "fid": fid})) == "minimize"
    assert direction(OmegaConf.create({"monitor": "fid/value", "mode": "auto", "modes": modes, "fid": fid})) \
        == "minimize"
    assert direction(OmegaConf.create({"monitor": "auto", "mode": "auto", "modes": modes})) == "maximize"
    assert direction(OmegaConf.create({"monitor": "fid/value", "mode": "max", "fid": fid})) == "maximize"
    with pytest.raises(ConfigError, match="metrics.mode=max"):
        direction(OmegaConf.create({"monitor": "modes/covered", "mode": "auto", "modes": modes}))
