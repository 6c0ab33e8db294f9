"""A multirun job is idempotent on its folder: what to do when the folder already holds a run.

Re-running a sweep into the same folder (same `hydra.sweep.dir`), or SLURM requeueing a job, runs each job
again with the same overrides in the same job folder. There the job

- skips a finished run (run.json status completed or diverged) and returns its recorded final metric;
- resumes an unfinished one (interrupted, failed, or running in a process that is gone) from its
  checkpoints/last.ckpt, or starts it afresh when it never wrote one;
- leaves alone a run that another live process is training: that process holds the folder's lock
  (genbench/runs/run_dir.py), which the kernel releases when it dies, so a dead job is resumed and a live one is never
  trained twice, on one host or (on a shared file system with locks) across hosts. Only where the file system
  has no locks does it fall back to run.json's owner: a live process on this host, a SLURM job still in the
  queue, or files written within `rerun.stale_after_min` minutes;
- refuses a folder that holds a run of other overrides, or of the same overrides composing another config
  (the sweep, or a file under conf/, changed but the folder did not).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from genbench.errors import ConfigError
from genbench.runs.overrides import experiment_overrides
from genbench.runs.run_dir import FolderBusy, RunDir

FINISHED = ("completed", "diverged")


@dataclass
class Plan:
    action: str  # fresh | resume | skip
    reason: str
    value: float | None = None  # the recorded final value of the monitored metric (skip)


def config_digest(cfg) -> str:
    """A hash of the composed job config (interpolations unresolved, so paths from the environment do not count)."""
    from omegaconf import OmegaConf

    return hashlib.sha256(OmegaConf.to_yaml(cfg, resolve=False).encode()).hexdigest()[:16]


def owner() -> dict:
    """Who runs a job: written to run.json so that a later attempt can tell whether it is still alive."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "slurm_job_id": os.environ.get("SLURM_JOB_ID")}


def _same_overrides(a: list[str], b: list[str]) -> bool:
    return sorted(experiment_overrides(a)) == sorted(experiment_overrides(b))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _slurm_job_alive(job_id: str) -> bool | None:
    """True/False from squeue when it can tell (pending, running or requeued counts as alive), else None.

    `job_id` is the job's SLURM_JOB_ID. The last task of an array has the array's own id, for which squeue lists
    every task of the array: only the line whose own job id (%A) is `job_id` counts."""
    if not shutil.which("squeue"):
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%A %T"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:  # "Invalid job id": long gone
        return False
    return any(line.split()[0] == job_id for line in out.stdout.splitlines() if line.strip())


def _last_write(run_dir: Path) -> float:
    folder = RunDir(run_dir)
    files = [folder.run_json, folder.metrics_json, folder.last_ckpt]
    return max((f.stat().st_mtime for f in files if f.exists()), default=0.0)


def _still_running_elsewhere(run_dir: Path, record: dict, stale_after_min: float) -> str | None:
    """Why the run that run.json says is running is alive (and not this job's own earlier attempt), or None."""
    was = record.get("owner") or {}
    me = owner()
    if was.get("slurm_job_id") and was.get("slurm_job_id") == me["slurm_job_id"]:
        return None  # this SLURM job, requeued: its earlier attempt is over
    if was.get("host") == me["host"] and was.get("pid"):
        return f"process {was['pid']} on this host" if _pid_alive(int(was["pid"])) else None
    if was.get("slurm_job_id"):
        alive = _slurm_job_alive(str(was["slurm_job_id"]))
        if alive is not None:
            return f"SLURM job {was['slurm_job_id']}" if alive else None
    age_min = (time.time() - _last_write(run_dir)) / 60
    if age_min < stale_after_min:
        return (f"host {was.get('host', '?')}, last write {age_min:.0f} min ago "
                f"(taken over after rerun.stale_after_min={stale_after_min:g})")
    return None


def _recorded_value(run_dir: Path) -> float | None:
    metrics = RunDir(run_dir).read_json(RunDir(run_dir).metrics_json)
    if metrics is None:
        return None
    monitor = (metrics.get("best") or {}).get("metric")
    return metrics.get("final", {}).get(monitor) if monitor else None


def plan(run_dir: Path | RunDir, overrides: list[str], stale_after_min: float = 60.0,
         digest: str | None = None) -> Plan:
    """What a multirun job does with its folder `run_dir`, given the job's own overrides and config digest.

    Given a RunDir, unless it skips, the job leaves holding the folder's lock (RunDir.lock) and the caller
    releases it; given a path, the answer is only a look and the lock is released."""
    query = not isinstance(run_dir, RunDir)
    folder = RunDir(run_dir) if query else run_dir
    run_dir = folder.path
    try:
        locked = True
        folder.lock()
    except FolderBusy as holder:
        return Plan("skip", f"still running ({holder} holds the folder)")
    except OSError:  # no locks on this file system: fall back to run.json's owner below
        locked = False
    try:
        decided = _plan_locked(folder, overrides, stale_after_min, digest, locked)
    except ConfigError:
        folder.unlock()
        raise
    if decided.action == "skip" or query:
        folder.unlock()
    return decided


def _plan_locked(folder: RunDir, overrides: list[str], stale_after_min: float, digest: str | None,
                 locked: bool) -> Plan:
    run_dir = folder.path
    if not folder.run_json.is_file():
        return Plan("fresh", "new job")
    record = folder.read_json(folder.run_json)
    if record is None:
        raise ConfigError(f"{folder.run_json} is not readable JSON (a damaged record): move the folder away or "
                          "choose a new hydra.sweep.dir=<dir>")
    if not _same_overrides(record.get("overrides", []), overrides):
        raise ConfigError(
            f"{run_dir} holds a run of other overrides ({' '.join(record.get('overrides', []))}) than this job "
            f"({' '.join(overrides)}): the sweep changed but writes to the same folder; choose a new "
            "hydra.sweep.dir=<dir>, or re-run the sweep's original command")
    if digest and record.get("config_digest") not in (None, digest):
        raise ConfigError(
            f"{run_dir} holds a run of the same overrides but another composed config (a file under conf/ or "
            "genbench changed since): its results and checkpoint do not belong to this job; choose a new "
            "hydra.sweep.dir=<dir>")
    status = record.get("status")
    if status in FINISHED:
        return Plan("skip", f"already {status}", _recorded_value(run_dir) if status == "completed" else math.nan)
    if status == "running" and not locked:
        elsewhere = _still_running_elsewhere(run_dir, record, stale_after_min)
        if elsewhere:
            return Plan("skip", f"still running ({elsewhere})")
    has_checkpoint = folder.last_ckpt.is_file()
    if has_checkpoint:
        return Plan("resume", f"{status} at generator step {record.get('generator_steps', '?')}: resuming")
    return Plan("fresh", f"{status} before its first checkpoint: starting again")
