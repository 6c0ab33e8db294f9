"""Experiment loggers from the `logger` group: CSV and Weights & Biases (offline unless asked)."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def build_loggers(cfg: DictConfig, run_dir: Path, run_name: str, wandb_id: str | None,
                  group: str | None = None) -> list:
    """`group` (a sweep's folder name) gathers the jobs of one sweep in W&B unless logger.wandb.group is set."""
    loggers = []
    chosen = cfg.get("logger") or {}
    if "csv" in chosen:
        from pytorch_lightning.loggers import CSVLogger

        loggers.append(CSVLogger(save_dir=str(run_dir), name="csv", version=""))
    if "wandb" in chosen and chosen.wandb.mode != "disabled":
        from pytorch_lightning.loggers import WandbLogger

        w = chosen.wandb
        # Set the mode explicitly for every run: WandbLogger(offline=True) leaves WANDB_MODE set for
        # the whole process, which would silently turn the next job of a sweep offline too.
        os.environ["WANDB_MODE"] = w.mode
        os.environ.setdefault("WANDB_SILENT", "true")
        loggers.append(WandbLogger(
            save_dir=str(run_dir), project=w.project, entity=w.entity, group=w.group or group, tags=list(w.tags),
            name=run_name, id=wandb_id, resume="allow" if wandb_id else None,
            offline=w.mode == "offline", config=OmegaConf.to_container(cfg, resolve=True),
        ))
    return loggers
