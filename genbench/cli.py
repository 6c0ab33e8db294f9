"""The `genbench` command: compose the config with Hydra, check it, then train.

Only Hydra is imported at module level so that `genbench --help` and config errors stay fast;
torch and Lightning are imported when a run really starts.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from genbench.errors import GenbenchError
from genbench.hparams import register_resolvers
from genbench.resume import resume_overrides

log = logging.getLogger("genbench")

CONFIG_PATH = "pkg://genbench.conf"


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _task(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from genbench.config_checks import check_config

    register_resolvers()  # a SLURM job unpickles this function in a fresh process: main() did not run there
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        check_config(cfg)
        from genbench.run import run  # heavy: torch, Lightning

        return run(cfg, Path(HydraConfig.get().runtime.output_dir))
    except Exception as err:
        # a GenbenchError raised inside a constructor reaches here wrapped by Hydra's instantiate
        user = err if isinstance(err, GenbenchError) else err.__cause__
        if not isinstance(user, GenbenchError):
            raise
        if multirun:  # the sweep goes on with the other jobs; Hydra reports this one as failed
            log.error("%s", user)
            raise
        print(f"genbench: error: {user}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    sys.argv = [sys.argv[0], *resume_overrides(sys.argv[1:])]
    register_resolvers()
    _task()


if __name__ == "__main__":
    main()
