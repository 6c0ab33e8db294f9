"""Which command-line overrides define an experiment: all but where a run writes (`hydra.*`) and `resume=`.

Used wherever two runs' overrides are compared or a run's overrides are re-applied: a sweep re-run's check
(runs/sweep_job.py), genbench-eval's compose (cli/evaluate.py) and the table's grouping (cli/table.py)."""

from __future__ import annotations

from collections.abc import Iterable

NOT_THE_EXPERIMENT = ("resume=", "hydra.")


def experiment_overrides(overrides: Iterable[str], also: tuple[str, ...] = ()) -> list[str]:
    """`overrides` without those that do not change what is trained (and without any prefix in `also`)."""
    return [o for o in overrides if not o.startswith(NOT_THE_EXPERIMENT + also)]
