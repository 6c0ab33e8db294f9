"""Resolvers the configs use. The Optuna search configs (conf/hparams_search/): the direction of the monitored
metric and an SQLite storage whose folder exists. hardware=slurm: how many GPUs a job asks SLURM for.

Why: a search that maximizes a metric which is better when lower is silently useless; the direction comes
from the metric's own `higher_is_better` (or `eval.mode`), among the metrics that apply to the dataset.
SQLite does not create folders, and Optuna opens the study before Hydra creates the sweep's folders. A CPU job
asking for GPUs is refused by sbatch on a CPU partition ("Invalid generic resource (gres) specification").
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from genbench.errors import ConfigError


def direction(_root_: DictConfig) -> str:
    """'maximize' or 'minimize' for the monitored metric of the whole config (`${genbench_direction:}`), decided by
    the function that decides it for training (genbench/metrics/choice.py): the dataset's applying metrics count."""
    from genbench.metrics.choice import choose_for

    choice = choose_for(_root_)
    if choice.monitor is None:
        raise ConfigError(f"none of the chosen metrics applies to dataset {_root_.dataset.name}: a search needs a "
                          "metric to optimize; choose one with metrics=[...]")
    return choice.direction


def sqlite_storage(path: str) -> str:
    """An SQLite URL for `path` (relative to the working folder), its folder created."""
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def gpus_per_node(accelerator: str, devices: int) -> int | None:
    """SLURM's --gpus-per-node for hardware.accelerator and .devices: none (null) on CPU, else one per device."""
    return None if str(accelerator).lower() == "cpu" else devices


def register_resolvers() -> None:
    for name, fn in (("genbench_direction", direction), ("genbench_sqlite", sqlite_storage),
                     ("genbench_gpus", gpus_per_node)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
    from genbench.cli import help as help_text  # the help page's group list: composing hydra's config resolves it

    help_text.register()
