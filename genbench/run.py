"""One run: seed, data, nets, module, trainer, fit; run.json, metrics.json and checkpoints in `run_dir`."""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from genbench import modules
from genbench.callbacks.checkpoint import LastCheckpoint
from genbench.callbacks.evaluation import Evaluator
from genbench.callbacks.preemption import DeferredRequeue
from genbench.callbacks.random_state import RandomState
from genbench.callbacks.samples import SampleImages
from genbench.data.datamodule import GenDataModule
from genbench.errors import ConfigError
from genbench.loggers import build_loggers
from genbench.run_record import RunRecord, environment_device
from genbench.sweep_job import config_digest, plan

log = logging.getLogger("genbench")

# Lightning's tips about dataloader workers, step counters and checkpoint loading are noise here.
for noisy in ("pytorch_lightning.utilities.rank_zero", "pytorch_lightning.accelerators.cuda",
              "pytorch_lightning.trainer.connectors.checkpoint_connector", "lightning.fabric"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")
# GenDataModule resumes in-memory data at the exact batch (it counts them); image folders restart the epoch's
# shuffle, as README says. Lightning's warning about non-resumable loaders would say less than that.
warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before the epoch ended")


def build_datamodule(cfg: DictConfig) -> GenDataModule:
    dataset = instantiate(cfg.dataset, seed=cfg.seed, _convert_="all")
    return GenDataModule(dataset, cfg.dataset.batch_size, cfg.seed, cfg.dataset.get("num_workers", 0))


def build_module(cfg: DictConfig, shape: tuple[int, ...]) -> pl.LightningModule:
    """The LightningModule `model.module` names (a file in genbench/modules with `build(cfg, shape)`)."""
    return modules.build(cfg, shape)


def build_trainer(cfg: DictConfig, run_dir: Path, loggers: list, callbacks: list) -> pl.Trainer:
    hw = cfg.hardware
    if hw.get("threads"):
        torch.set_num_threads(int(hw.threads))
    if hw.get("matmul_precision"):
        torch.set_float32_matmul_precision(hw.matmul_precision)
    from lightning_fabric.plugins.environments import SLURMEnvironment

    # Under SLURM the ranks are SLURM's tasks (tasks per node = devices); submitit, not Lightning, requeues.
    plugins = [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else None
    return pl.Trainer(
        accelerator=hw.accelerator, devices=hw.devices, num_nodes=hw.get("num_nodes", 1), strategy=hw.strategy,
        precision=hw.precision, plugins=plugins,
        max_epochs=-1, max_steps=-1, logger=loggers or False, callbacks=callbacks,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, default_root_dir=str(run_dir), log_every_n_steps=1,
    )


def _check_fresh(run_dir: Path, resume: str | None) -> None:
    """Refuse to train over a finished or running run that was not asked to resume."""
    if resume is None and (run_dir / "checkpoints" / "last.ckpt").exists():
        raise ConfigError(f"{run_dir} already holds a run; continue it with resume={run_dir} "
                          "or choose another folder with hydra.run.dir=<dir>")


def run(cfg: DictConfig, run_dir: Path) -> float | None:
    """Train one configuration; returns the monitored metric's final value (for sweepers)."""
    run_dir = Path(run_dir)
    overrides = list(HydraConfig.get().overrides.task)
    resume = bool(cfg.resume)
    if HydraConfig.get().mode.name == "MULTIRUN" and not resume:  # each job is idempotent on its folder
        job = plan(run_dir, overrides, cfg.rerun.stale_after_min, config_digest(cfg))
        log.info("job %s: %s", run_dir, job.reason)
        if job.action == "skip":
            return job.value
        resume = job.action == "resume"
    else:
        _check_fresh(run_dir, cfg.resume)
    record = RunRecord(run_dir, cfg.seed, overrides)
    record.update(config_digest=config_digest(cfg))
    module = None
    try:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        data = build_datamodule(cfg)
        data.setup("fit")  # reads the data now: a missing file fails before anything is built
        module = build_module(cfg, data.shape)
        metrics = [instantiate(v) for v in cfg.metrics.values() if isinstance(v, DictConfig) and "_target_" in v]
        evaluator = Evaluator(run_dir, metrics, cfg.metrics.every, cfg.metrics.n, cfg.metrics.monitor,
                              cfg.metrics.mode, protocol=_protocol(cfg, metrics))
        last = LastCheckpoint(run_dir, cfg.train.checkpoint_every)
        callbacks = [evaluator, SampleImages(run_dir, cfg.train.sample_every, seed=cfg.seed), last]
        callbacks += [m for m in metrics if isinstance(m, pl.Callback)]  # e.g. dirac records every step
        callbacks += [c for c in (DeferredRequeue.if_scheduled(last),) if c]  # a submitit job's time limit
        callbacks.append(RandomState())  # last: restores the generators' states right before the first batch
        wandb_id = record.data.get("wandb_id") or _new_wandb_id()
        hydra_cfg = HydraConfig.get()
        name = hydra_cfg.job.override_dirname or "defaults"
        sweep = str(Path(hydra_cfg.sweep.dir).name) if hydra_cfg.mode.name == "MULTIRUN" else None
        loggers = build_loggers(cfg, run_dir, name, wandb_id, group=sweep)
        record.update(wandb_id=wandb_id if any("Wandb" in type(lg).__name__ for lg in loggers) else None,
                      device=environment_device())
        trainer = build_trainer(cfg, run_dir, loggers, callbacks)
        ckpt = str(run_dir / "checkpoints" / "last.ckpt") if resume else None
        if ckpt:
            log.info("resuming from %s", ckpt)
        trainer.fit(module, datamodule=data, ckpt_path=ckpt)
        status = "diverged" if module.status == "diverged" else "completed"
        if trainer.is_global_zero:
            evaluator.write(status)
        record.finish(status, module.g_step)
        log.info("run %s: %s after %d generator steps; outputs in %s", run_dir.name, status, module.g_step, run_dir)
        _finish_wandb(loggers)
        final = evaluator.history[-1] if evaluator.history else {}
        if status == "diverged":  # no result: an Optuna search marks the trial failed
            return math.nan
        return final.get(evaluator.monitor) if evaluator.monitor else None
    except (KeyboardInterrupt, SystemExit) as stop:
        record.finish("interrupted", module.g_step if module else 0)
        log.warning("run interrupted; continue it with: genbench resume=%s", run_dir)
        code = getattr(stop, "code", None)  # submitit's requeue exits with its own code: keep it
        raise SystemExit(code if isinstance(code, int) and code not in (0, 1) else 143) from None
    except Exception as err:
        record.finish("failed", module.g_step if module else 0, error=f"{type(err).__name__}: {err}")
        raise


def _protocol(cfg: DictConfig, metrics: list) -> dict:
    """What metrics.json states about the evaluation (feature metrics add their extractor and reference split)."""
    protocol = {"dataset": cfg.dataset.name}
    if any(hasattr(m, "bank") for m in metrics):
        protocol.update(feature_extractor=cfg.metrics.extractor, reference_split=cfg.metrics.split)
    return protocol


def _new_wandb_id() -> str:
    return os.urandom(4).hex()


def _finish_wandb(loggers: list) -> None:
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            logger.experiment.finish()
