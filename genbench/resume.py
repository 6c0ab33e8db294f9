"""`resume=<run dir>`: re-run a run in its own folder with its own overrides, from its last checkpoint.

This rewrites the command line before Hydra sees it, so the resumed run composes exactly the config
of the original (plus whatever the user adds, e.g. a longer `train.max_steps`) and writes into the
same folder, keeping its history.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

CHECKPOINT = Path("checkpoints") / "last.ckpt"


def _fail(message: str) -> None:
    print(f"genbench: error: {message}", file=sys.stderr)
    sys.exit(2)


def resume_overrides(argv: list[str]) -> list[str]:
    """Return argv with the original run's overrides and its folder added when `resume=` is given."""
    resume = [a for a in argv if a.startswith("resume=")]
    if not resume or resume[-1] in ("resume=null", "resume="):
        return argv
    if "-m" in argv or "--multirun" in argv:
        _fail("resume=<run dir> continues one run; to continue a sweep, re-run the sweep command")
    run_dir = Path(resume[-1].split("=", 1)[1]).expanduser().resolve()
    saved = run_dir / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        _fail(f"resume={run_dir}: not a genbench run folder (no .hydra/overrides.yaml); "
              "pass the folder of a run, e.g. outputs/<date>/<time>")
    if not (run_dir / CHECKPOINT).is_file():
        _fail(f"resume={run_dir}: the run has no {CHECKPOINT} to continue from; start it again instead")
    original = yaml.safe_load(saved.read_text()) or []
    keep = [o for o in original if not o.startswith(("resume=", "hydra.run.dir="))]
    rest = [a for a in argv if not a.startswith("resume=")]
    return [*keep, *rest, f"resume={run_dir}", f"hydra.run.dir={run_dir}"]
