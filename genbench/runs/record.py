"""run.json: what ran, where, with which code and libraries, and how it ended."""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path

from genbench.errors import StorageError
from genbench.parallel.distributed import env_rank
from genbench.runs.run_dir import RunDir
from genbench.runs.sweep_job import owner

log = logging.getLogger("genbench")

PACKAGES = ("genbench", "torch", "pytorch-lightning", "hydra-core", "omegaconf", "numpy", "wandb")


def git_sha() -> str | None:
    """The commit of the genbench source tree, with '-dirty' when it has uncommitted changes."""
    src = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


class RunRecord:
    """Creates run.json at the start (status running) and rewrites it at every change of state."""

    def __init__(self, run_dir: Path, seed: int, overrides: list[str]):
        self.path = Path(run_dir) / "run.json"
        previous = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.data = {
            "status": "running",
            "seed": seed,
            "overrides": overrides,
            "command": " ".join(["genbench", *overrides]),
            "git_sha": git_sha(),
            "versions": versions(),
            "host": socket.gethostname(),
            "owner": owner(),  # host, pid, SLURM job: lets a re-run sweep tell a live run from a dead one
            "device": None,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_time_s": 0.0,
            "generator_steps": 0,
            "attempts": previous.get("attempts", 0) + 1,
            "wandb_id": previous.get("wandb_id"),
        }
        self._t0 = time.perf_counter()
        self._before = float(previous.get("wall_time_s", 0.0))
        self.write()

    def update(self, **fields) -> None:
        self.data.update(fields)
        self.write()

    def finish(self, status: str, steps: int, error: str | None = None) -> None:
        self.data.update(status=status, generator_steps=steps, ended=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                         wall_time_s=round(self._before + time.perf_counter() - self._t0, 3))
        if error:
            self.data["error"] = error
        try:
            self.write()
        except StorageError as err:  # a full disk: the error that ended the run is the one to report
            log.warning("run.json could not record status %s: %s", status, err)

    def write(self) -> None:
        if env_rank() != 0:  # DDP: every rank runs the job; rank 0 keeps the record
            return
        RunDir.write_json(self.path, self.data)



def environment_device() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
