"""What a multirun job does with a folder that already holds a run (genbench/runs/sweep_job.py), case by case."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pytest

from genbench.errors import ConfigError
from genbench.runs.sweep_job import owner, plan

OVERRIDES = ["model=gan", "seed=1"]


def write_run(folder, status, overrides=OVERRIDES, checkpoint=True, who=None, final=None, steps=40, digest="abc"):
    folder.mkdir(parents=True, exist_ok=True)
    record = {"status": status, "overrides": overrides, "generator_steps": steps, "owner": who or owner(),
              "config_digest": digest}
    (folder / "run.json").write_text(json.dumps(record))
    if checkpoint:
        (folder / "checkpoints").mkdir(exist_ok=True)
        (folder / "checkpoints" / "last.ckpt").write_bytes(b"x")
    if final is not None:
        (folder / "metrics.json").write_text(json.dumps({"final": final, "best": {"metric": "m"}}))
    return folder


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_new_folder_starts_fresh(tmp_path):
    assert plan(tmp_path / "0", OVERRIDES).action == "fresh"


def test_finished_runs_are_skipped_with_their_recorded_value(tmp_path):
    done = plan(write_run(tmp_path / "a", "completed", final={"m": 0.25}), list(reversed(OVERRIDES)))
    assert (done.action, done.value) == ("skip", 0.25)  # override order does not matter
    diverged = plan(write_run(tmp_path / "b", "diverged", final={"m": 0.5}), OVERRIDES)
    assert diverged.action == "skip" and math.isnan(diverged.value)  # an Optuna trial that diverged has no value


@pytest.mark.parametrize("status", ["interrupted", "failed"])
def test_unfinished_runs_resume_from_their_checkpoint_or_start_again(tmp_path, status):
    assert plan(write_run(tmp_path / "a", status), OVERRIDES).action == "resume"
    assert plan(write_run(tmp_path / "b", status, checkpoint=False), OVERRIDES).action == "fresh"


def hold_lock(folder) -> subprocess.Popen:
    """Another process that holds the folder's lock (as a live genbench does) until killed."""
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder / ".genbench.lock")], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_live_owner_holds_the_lock_and_is_left_alone_a_dead_one_is_resumed(tmp_path):
    """The lock decides, not the recorded PID: a run whose owner holds the folder's lock is skipped; once that
    process is gone (kill -9 included) the same folder resumes, even when run.json names a PID that is alive
    now, as PID 1 is in every container (issue 13.5)."""
    host = owner()["host"]
    folder = write_run(tmp_path / "a", "running", who={"host": host, "pid": 1, "slurm_job_id": None})
    holder = hold_lock(folder)
    try:
        busy = plan(folder, OVERRIDES)
        assert busy.action == "skip" and "holds the folder" in busy.reason
    finally:
        holder.kill()
        holder.wait()
    assert plan(folder, OVERRIDES).action == "resume"
    dead = write_run(tmp_path / "b", "running", who={"host": host, "pid": dead_pid(), "slurm_job_id": None})
    assert plan(dead, OVERRIDES).action == "resume"


def test_two_plans_race_for_one_folder_and_one_wins(tmp_path):
    """Two identical sweeps started together: the first to lock takes the job; the other skips it."""
    from genbench.runs.run_dir import RunDir

    first, second = RunDir(tmp_path / "0"), RunDir(tmp_path / "0")
    assert plan(first, OVERRIDES).action == "fresh"
    try:
        assert plan(second, OVERRIDES).action == "skip"
    finally:
        first.unlock()
    assert plan(second, OVERRIDES).action == "fresh"
    second.unlock()


@pytest.fixture
def no_locks(monkeypatch):
    """A file system without flock (some parallel file systems): run.json's owner decides instead."""
    import errno

    from genbench.runs.run_dir import RunDir

    def unsupported(self):
        raise OSError(errno.ENOLCK, "no locks")

    monkeypatch.setattr(RunDir, "lock", unsupported)


def test_without_locks_a_dead_process_is_resumed_a_live_one_left_alone(tmp_path, no_locks):
    host = owner()["host"]
    dead = write_run(tmp_path / "a", "running", who={"host": host, "pid": dead_pid(), "slurm_job_id": None})
    assert plan(dead, OVERRIDES).action == "resume"
    live = write_run(tmp_path / "b", "running", who={"host": host, "pid": os.getppid(), "slurm_job_id": None})
    result = plan(live, OVERRIDES)
    assert result.action == "skip" and f"process {os.getppid()}" in result.reason


def test_without_locks_a_requeued_slurm_job_resumes_its_own_run(tmp_path, monkeypatch, no_locks):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    mine = write_run(tmp_path / "a", "running", who={"host": "node7", "pid": 1, "slurm_job_id": "4242"})
    assert plan(mine, OVERRIDES).action == "resume"


def test_without_locks_a_run_on_another_host_is_taken_over_only_once_stale(tmp_path, no_locks):
    other = {"host": "elsewhere", "pid": 1, "slurm_job_id": None}
    fresh = write_run(tmp_path / "a", "running", who=other)
    assert plan(fresh, OVERRIDES, stale_after_min=60).action == "skip"
    old = time.time() - 2 * 3600
    for name in ("run.json", "checkpoints/last.ckpt"):
        os.utime(fresh / name, (old, old))
    assert plan(fresh, OVERRIDES, stale_after_min=60).action == "resume"


def test_folder_of_other_overrides_is_refused(tmp_path):
    folder = write_run(tmp_path / "a", "completed")
    with pytest.raises(ConfigError, match="holds a run of other overrides.*hydra.sweep.dir"):
        plan(folder, ["model=wgan", "seed=1"])
    # Hydra's own and resume= overrides do not make a run different
    assert plan(folder, [*OVERRIDES, "hydra.launcher.n_jobs=2", "resume=null"]).action == "skip"


def test_same_overrides_but_a_changed_config_is_refused(tmp_path):
    folder = write_run(tmp_path / "a", "interrupted", digest="abc")
    assert plan(folder, OVERRIDES, digest="abc").action == "resume"
    with pytest.raises(ConfigError, match="another composed config"):
        plan(folder, OVERRIDES, digest="def")  # e.g. conf/budget/smoke.yaml changed the network width


def test_config_digest_ignores_what_the_environment_resolves():
    from omegaconf import OmegaConf

    from genbench.runs.sweep_job import config_digest

    a = OmegaConf.create({"cache": "${oc.env:HOME}/x", "width": 16})
    assert config_digest(a) == config_digest(OmegaConf.create({"cache": "${oc.env:HOME}/x", "width": 16}))
    assert config_digest(a) != config_digest(OmegaConf.create({"cache": "${oc.env:HOME}/x", "width": 8}))
