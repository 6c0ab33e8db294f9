"""Experiment loggers from the `logger` group: CSV and Weights & Biases (offline unless asked)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from genbench.parallel import distributed
from genbench.runs.wandb_identity import wandb_group, wandb_identity


def wandb_logger(loggers: list):
    """The run's W&B logger, or None."""
    from pytorch_lightning.loggers import WandbLogger

    return next((lg for lg in loggers if isinstance(lg, WandbLogger)), None)


def finish_wandb(loggers: list, summary: dict) -> None:
    """Put the run's headline numbers (the final metrics, status, steps) in the W&B run's summary, then close it."""
    logger = wandb_logger(loggers)
    if logger is None or distributed.rank() != 0:  # the other ranks' W&B logger holds a dummy run
        return
    logger.experiment.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str))})
    logger.experiment.finish()


def build_loggers(cfg: DictConfig, run_dir: Path, overrides: str, wandb_id: str | None,
                  sweep_dir: str | None = None, swept: list[str] = ()) -> list:
    """`overrides` (the job's command-line overrides) become the W&B run's notes; `sweep_dir` (a multirun's folder)
    names the W&B group of its jobs unless logger.wandb.group is set; `swept`: the job's settings the sweep varies
    (in its W&B name)."""
    loggers = []
    chosen = cfg.get("logger") or {}
    if "csv" in chosen:
        loggers.append(appending_csv_logger(run_dir))
    if "wandb" in chosen and chosen.wandb.mode != "disabled":
        from pytorch_lightning.loggers import WandbLogger

        w = chosen.wandb
        # Set the mode explicitly for every run: WandbLogger(offline=True) leaves WANDB_MODE set for
        # the whole process, which would silently turn the next job of a sweep offline too.
        os.environ["WANDB_MODE"] = w.mode
        os.environ.setdefault("WANDB_SILENT", "true")
        name, tags = wandb_identity(cfg, swept)
        logger = WandbLogger(
            save_dir=str(run_dir), project=w.project, entity=w.entity, group=wandb_group(cfg, sweep_dir),
            tags=[*tags, *w.tags], name=name, notes=overrides, id=wandb_id, resume="allow" if wandb_id else None,
            offline=w.mode == "offline", config=OmegaConf.to_container(cfg, resolve=True),
        )
        # Lightning passes anonymous=None, which wandb >= 0.19 warns about on every run ("The anonymous setting
        # has no effect"); leaving it out is what wandb asks for.
        logger._wandb_init.pop("anonymous", None)
        loggers.append(logger)
    return loggers


def appending_csv_logger(run_dir: Path):
    """Lightning's CSVLogger into <run dir>/csv/metrics.csv, keeping the rows already there.

    Lightning's writer deletes an existing metrics.csv when it starts, so a resumed run would keep only the rows
    logged after the resume. This one keeps the file: the new rows are appended, and rows of the earlier attempt
    at steps the resumed run logs again (those after its last checkpoint) are replaced by the new ones."""
    from lightning_fabric.loggers.logger import rank_zero_experiment
    from pytorch_lightning.loggers import CSVLogger
    from pytorch_lightning.loggers.csv_logs import ExperimentWriter

    class AppendingWriter(ExperimentWriter):
        def __init__(self, log_dir: str) -> None:
            super().__init__(log_dir)
            self._fresh = True  # the first save trims the earlier attempt's rows the new rows repeat
            if self._fs.isfile(self.metrics_file_path):
                with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                    self.metrics_keys = list(csv.DictReader(file).fieldnames or [])

        def _check_log_dir_exists(self) -> None:  # Lightning's deletes metrics.csv
            pass

        def save(self) -> None:
            if self._fresh and self.metrics and self._fs.isfile(self.metrics_file_path):
                first = min(_step(m.get("step")) for m in self.metrics)
                with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                    kept = [row for row in csv.DictReader(file) if _step(row.get("step")) < first]
                self._record_new_keys()
                with self._fs.open(self.metrics_file_path, "w", newline="") as file:
                    writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
                    writer.writeheader()
                    writer.writerows(kept)
            if self.metrics:
                self._fresh = False
            super().save()

    class AppendingCSVLogger(CSVLogger):
        @property
        @rank_zero_experiment
        def experiment(self) -> AppendingWriter:
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = AppendingWriter(log_dir=self.log_dir)
            return self._experiment

    return AppendingCSVLogger(save_dir=str(run_dir), name="csv", version="")


def _step(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")  # a row without a step is kept only when nothing is logged again
