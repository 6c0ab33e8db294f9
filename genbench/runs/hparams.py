"""Resolvers the configs use. The Optuna search configs (conf/hparams_search/): the direction of the monitored
metric and an SQLite storage whose folder exists. hardware=slurm: how many GPUs a job asks SLURM for.

Why: a search that maximizes a metric which is better when lower is silently useless; the direction comes
from the metric's own `higher_is_better` (or `metrics.mode`). SQLite does not create folders, and Optuna opens
the study before Hydra creates the sweep's folders. A CPU job asking for GPUs is refused by sbatch on a CPU
partition ("Invalid generic resource (gres) specification").
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from genbench.errors import ConfigError


def direction(metrics: DictConfig) -> str:
    """'maximize' or 'minimize' for `metrics.monitor`, decided as the Evaluator does (callbacks/evaluation.py)."""
    from hydra.utils import get_class

    mode, monitor = metrics.get("mode", "auto"), metrics.get("monitor", "auto")
    if mode in ("max", "min"):
        return "maximize" if mode == "max" else "minimize"
    from genbench.metrics.defaults import AUTO, candidates

    entries = [v for v in metrics.values() if isinstance(v, DictConfig) and "_target_" in v]
    if isinstance(metrics.get(AUTO), DictConfig):  # metrics=[auto]: which metrics run depends on the data
        if monitor == "auto":
            raise ConfigError("metrics.monitor=auto with metrics=[auto]: the first metric depends on the data "
                              "(modes on 2D, fid on images): name it, e.g. metrics.monitor=modes/hq_fraction")
        entries += candidates(metrics[AUTO])
    chosen = [get_class(v["_target_"]) for v in entries]
    owner = chosen[0] if chosen and monitor == "auto" else next((c for c in chosen if c.headline == monitor), None)
    if owner is None:
        raise ConfigError(f"metrics.monitor={monitor} is not the headline of a chosen metric "
                          f"({', '.join(c.headline for c in chosen) or 'none'}): say which way is better with "
                          "metrics.mode=max or metrics.mode=min")
    return "maximize" if owner.higher_is_better else "minimize"


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
