"""The `genbench` command: compose the config with Hydra, check it, then train.

Only Hydra is imported at module level so that `genbench --help` and config errors stay fast;
torch and Lightning are imported when a run really starts.
"""

from __future__ import annotations

import logging
import os
import sys

import hydra
from omegaconf import DictConfig

from genbench import progress
from genbench.cli import help as help_text
from genbench.cli import sweeps
from genbench.errors import GenbenchError, one_line
from genbench.runs import startup_gc
from genbench.runs.hparams import register_resolvers
from genbench.runs.resume import resume_overrides

log = logging.getLogger("genbench")

CONFIG_PATH = "pkg://genbench.conf"

# Hydra reports its own errors (an unknown option, a key the config lacks) and exits 1. main() sets
# HYDRA_FULL_ERROR=1 so that errors raised while Hydra composes the config and prepares the run's folder reach
# it as exceptions (one line, exit 2); _task puts the user's setting back as soon as the run starts, so errors
# of the run itself are reported as before.
_HYDRA_FULL_ERROR = "HYDRA_FULL_ERROR"
_state = {"started": False, "own_env": False, "previous": None}


def _restore_hydra_env() -> None:
    if _state["own_env"]:
        if _state["previous"] is None:
            os.environ.pop(_HYDRA_FULL_ERROR, None)
        else:
            os.environ[_HYDRA_FULL_ERROR] = _state["previous"]
        _state["own_env"] = False


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _task(cfg: DictConfig) -> float | None:
    with startup_gc.paused():  # main() did not run in a SLURM job's process
        return _job(cfg)


def _job(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from genbench.runs.config_checks import check_config, check_machine

    _state["started"] = True
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if not multirun:  # a sweep's failed job reaches _main, which ends the sweep with its report and one line
        _restore_hydra_env()
    register_resolvers()  # a SLURM job unpickles this function in a fresh process: main() did not run there
    help_text.register()
    try:
        check_machine(cfg)  # first: a machine that lacks the hardware says so before any value is judged
        check_config(cfg)
        progress.configure(cfg.get("progress"))
        from genbench.runs.train import RunContext, run  # heavy: torch, Lightning

        return run(cfg, RunContext.from_hydra())
    except Exception as err:
        # a GenbenchError raised inside a constructor reaches here wrapped by Hydra's instantiate
        user = err if isinstance(err, GenbenchError) else err.__cause__
        if not isinstance(user, GenbenchError):
            raise
        if multirun:  # the sweep goes on with the other jobs; Hydra reports this one as failed
            log.error("%s", user)
            sweeps.job_failed(user, HydraConfig.get().job.num)
            raise
        print(f"genbench: error: {one_line(user)}", file=sys.stderr)
        sys.exit(2)


def _fail(message: str) -> None:
    print(f"genbench: error: {message}", file=sys.stderr)
    sys.exit(2)


def _user_error(err: BaseException) -> GenbenchError | None:
    """The GenbenchError an exception wraps (Hydra and OmegaConf wrap those raised while they resolve), else None."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, GenbenchError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def _check_before_writing(argv: list[str]) -> str | None:
    """Typos Hydra would only notice after writing the output folder (a sweep's values), or never (`+key` next to
    the key meant): Hydra's error is raised, a refusal returned. A check failing otherwise leaves it to Hydra."""
    from hydra.errors import HydraException

    from genbench.cli.added_keys import check_added_keys
    from genbench.cli.errors import MULTIRUN_FLAGS, overrides_of
    from genbench.cli.sweep_check import check_sweep

    overrides = overrides_of(argv)
    try:
        if any(a in MULTIRUN_FLAGS for a in argv):
            check_sweep(overrides)
        return check_added_keys(overrides)
    except HydraException:
        raise
    except Exception as err:  # best effort: Hydra composes the config (every job of a sweep) again
        log.debug("check before writing skipped: %r", err)
        return None


def main() -> None:
    with startup_gc.paused():  # until the run has imported and composed what it needs (genbench/runs/startup_gc.py)
        _main()


def _main() -> None:
    from genbench.cli import errors as cli_errors

    argv = resume_overrides(sys.argv[1:])
    refused = cli_errors.changed_sweep(argv)  # before Hydra rewrites <sweep dir>/multirun.yaml
    if refused:
        _fail(refused)
    sys.argv = [sys.argv[0], *argv]
    register_resolvers()
    help_text.register()
    _state["previous"] = os.environ.get(_HYDRA_FULL_ERROR)
    if _state["previous"] == "1":  # the user asked for Hydra's full tracebacks
        _task()
        return
    os.environ[_HYDRA_FULL_ERROR] = "1"
    _state["own_env"] = True
    try:
        refused = _check_before_writing(argv)
        if refused:
            _fail(refused)
        _task()
    except Exception as err:
        sweep = sweeps.launched()
        if _state["started"] and sweep is None:  # raised by the run itself under the user's own setting
            raise
        from hydra.errors import HydraException

        user = _user_error(err)
        job = getattr(user, "sweep_job", None)  # the job whose error this is, when it failed before its run started
        if job is not None:
            sweeps.job_failed(user, job)  # it may have run in another process (SLURM)
        jobs = sweeps.report(sweep) if sweep is not None else []  # a job failed: how the others ended
        if user is not None:  # a job's bad input; or e.g. raised by a resolver of the sweeper's config (hparams.py)
            _fail(sweeps.failed_jobs_line(jobs, one_line(user), job))
        if _state["started"]:  # a job's own error, not the user's: its traceback
            raise
        if isinstance(err, HydraException):
            _fail(cli_errors.describe_hydra_error(err, argv))
        if isinstance(err, OSError):
            _fail(cli_errors.describe_os_error(err, argv))
        if isinstance(err, ValueError) and str(err).startswith("Only one of --run"):  # Hydra's flags, e.g. -m --cfg
            _fail(str(err))
        raise
    finally:
        _restore_hydra_env()


if __name__ == "__main__":
    main()
