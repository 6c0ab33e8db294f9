"""The folders of `genbench -m` sweeps: a sweep's job folders, the last sweep started here (what `genbench-table`
reads when it is given none), and the line a sweep ends with, which says how its jobs ended and which command
tabulates them.

Every sweep, wherever its folder is (outputs/multirun/<date>/<time>, a paper table's outputs/tables/..., a named
hydra.sweep.dir), writes its folder's path to outputs/last_sweep when it starts, so `genbench-table` alone reads
the sweep the user just ran, not merely the newest folder under outputs/multirun/."""

from __future__ import annotations

import functools
import logging
import re
from importlib.resources import files
from pathlib import Path

import yaml
from hydra.experimental.callback import Callback

log = logging.getLogger("genbench")


def find_jobs(sweep_dir: Path) -> list[Path]:
    """Job folders under `sweep_dir`: those holding .hydra/overrides.yaml (sweep dir itself excluded)."""
    jobs = [p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml") if p.parent.parent != sweep_dir]
    return sorted(jobs, key=lambda j: (int(j.name) if j.name.isdigit() else float("inf"), str(j)))  # 2 before 10


@functools.cache
def default_sweeps() -> str:
    """The glob of the default sweep folders: conf/config.yaml's hydra.sweep.dir (its one owner) with every
    ${...} as *, e.g. outputs/multirun/*/*. Read once per process: pointer() and last_sweep() ask for it again."""
    config = yaml.safe_load(files("genbench.conf").joinpath("config.yaml").read_text())
    return re.sub(r"\$\{[^}]*\}", "*", config["hydra"]["sweep"]["dir"])


def pointer(root: Path = Path()) -> Path:
    """The file that names the last sweep started from `root`: last_sweep in the outputs folder of the default
    sweep folders (outputs/last_sweep)."""
    return root / Path(default_sweeps()).parts[0] / "last_sweep"


def remember(sweep: Path) -> None:
    """Name `sweep` in the pointer file (atomically); a folder that cannot be written only loses the pointer."""
    from genbench.runs.run_dir import atomic_write

    try:
        atomic_write(pointer(), lambda tmp: tmp.write_text(f"{sweep}\n"))
    except OSError as err:  # a StorageError: the sweep itself goes on
        log.debug("could not record the sweep in %s: %s", pointer(), err)


def last_sweep(root: Path = Path()) -> Path | None:
    """The sweep `genbench-table` reads when it is given none: the one outputs/last_sweep names, when it still
    holds a job; else the newest default sweep folder under `root` that holds one (named by date and time,
    %Y-%m-%d/%H-%M-%S, so their names sort in time order)."""
    named = pointer(root)
    if named.is_file():
        folder = Path(named.read_text().strip())
        folder = folder if folder.is_absolute() else root / folder
        if folder.is_dir() and find_jobs(folder):
            return folder
    for folder in sorted(root.glob(default_sweeps()), reverse=True):
        if folder.is_dir() and find_jobs(folder):
            return folder
    return None


_launched: dict[str, Path] = {}  # the sweep this process launched (set when it starts)
_failed: set[str] = set()        # the jobs that failed on bad input (job_failed)


def job_failed(error: BaseException, num: int | str) -> None:
    """Job `num` of this process's sweep failed on bad input (`error`, a GenbenchError). Refused before its run
    started (a value its checks refuse), it left no run.json and its folder alone would say "not started". The
    number is kept here and on the error itself, which a launcher running the job in another process (SLURM,
    local_parallel) hands back to the sweep's process, pickled with it."""
    error.sweep_job = str(num)
    _failed.add(str(num))


def launched() -> Path | None:
    """The folder of the sweep this process launched, None when it ran no sweep."""
    return _launched.get("dir")


def report(sweep: Path) -> list[dict]:
    """Log the line a sweep ends with: its folder, how many of its jobs ended in each state, the table command.
    Returns the jobs read (none when the folder holds none, and then nothing is logged)."""
    from genbench.cli.render import count, status_counts
    from genbench.cli.table import read_jobs

    jobs = read_jobs(find_jobs(sweep)) if sweep.is_dir() else []
    for job in jobs:
        if job["job"] in _failed and job["status"] == "not started":
            job["status"] = "failed"
    if jobs:
        log.info("sweep done: %s in %s (%s); the table: genbench-table %s", count(len(jobs), "job"), sweep,
                 status_counts(jobs), sweep)
    return jobs


def failed_jobs_line(jobs: list[dict], error: str, job: str | None = None) -> str:
    """The `genbench: error:` line of a sweep whose jobs failed: which ones, and `error`, the error of `job` (when
    known) or of the first failed one."""
    failed = [j["job"] for j in jobs if j["status"] == "failed"]
    if job is not None:
        failed = [job, *(j for j in failed if j != job)]
    if len(failed) <= 1:
        return f"job {failed[0]} of the sweep failed: {error}" if failed else error
    return (f"jobs {', '.join(failed)} of the sweep failed (each job's error is in its genbench.log); "
            f"job {failed[0]}: {error}")


class SweepSummary(Callback):
    """conf/config.yaml's Hydra callback: remembers the sweep's folder when it starts (in this process and in
    outputs/last_sweep) and, after the last job (any launcher: in this process, local processes, SLURM), logs
    `report`. A sweep with a failed job does not reach on_multirun_end (Hydra raises the job's error first):
    genbench/cli/main.py reports it then."""

    def on_multirun_start(self, config, **kwargs) -> None:
        _launched["dir"] = Path(str(config.hydra.sweep.dir))
        remember(_launched["dir"])

    def on_multirun_end(self, config, **kwargs) -> None:
        report(Path(str(config.hydra.sweep.dir)))
