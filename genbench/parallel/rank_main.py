"""A rank that rank 0 started (genbench/parallel/launch.py): `python -m genbench.parallel.rank_main <payload.json>`.

It trains rank 0's composed config with rank 0's decision (fresh or resume) in rank 0's folder. It writes no
record and logs warnings only, prefixed with its rank; rank 0 owns the run folder's files and the console.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from omegaconf import OmegaConf


def main() -> None:
    from genbench.runs import startup_gc

    with startup_gc.paused():  # until the run settles it (genbench/runs/startup_gc.py)
        _main()


def _main() -> None:
    payload = json.loads(open(sys.argv[1]).read())
    logging.basicConfig(level=logging.WARNING, format=f"[rank {os.environ.get('RANK', '?')}] %(levelname)s %(message)s")
    from genbench.runs.hparams import register_resolvers

    register_resolvers()
    from genbench.runs.sweep_job import Plan
    from genbench.runs.train import RunContext, run

    cfg = OmegaConf.create(payload["config"])
    run(cfg, RunContext(**payload["context"]), decided=Plan(**payload["decided"]))


if __name__ == "__main__":
    main()
