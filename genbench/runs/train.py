"""One run: seed, data, nets, module, trainer, fit; run.json, metrics.json and checkpoints in `run_dir`."""

from __future__ import annotations

import inspect
import logging
import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from genbench import modules
from genbench.callbacks.checkpoint import LastCheckpoint
from genbench.callbacks.evaluation import Evaluator
from genbench.callbacks.preemption import StopOnSignal
from genbench.callbacks.progress import TrainingProgress
from genbench.callbacks.random_state import RandomState
from genbench.callbacks.samples import SampleImages
from genbench.callbacks.wandb_figures import WandbFigures
from genbench.data.build import build_dataset, dataset_arguments
from genbench.data.datamodule import GenDataModule
from genbench.errors import ConfigError
from genbench.metrics.choice import choose_for
from genbench.metrics.defaults import previous_extractor
from genbench.parallel import distributed
from genbench.parallel.launch import (
    COLLECTIVE_TIMEOUT,
    LocalRanks,
    destroy_process_group,
    external_world_size,
    init_process_group,
    requested_world_size,
)
from genbench.runs import startup_gc
from genbench.runs.checkpoint_io import allowed_globals
from genbench.runs.loggers import build_loggers, finish_wandb, wandb_logger
from genbench.runs.record import RunRecord, environment_device
from genbench.runs.reproducibility import determinism
from genbench.runs.resume import check_checkpoint, config_identity
from genbench.runs.run_dir import FolderBusy, RunDir
from genbench.runs.sweep_job import Plan, config_digest, plan
from genbench.runs.wandb_identity import swept_settings

log = logging.getLogger("genbench")

# Lightning's tips about dataloader workers, step counters and checkpoint loading are noise here.
for noisy in ("pytorch_lightning.utilities.rank_zero", "pytorch_lightning.accelerators.cuda",
              "pytorch_lightning.trainer.connectors.checkpoint_connector", "lightning.fabric"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")
# Lightning's hint to prepend `srun` shows wherever SLURM is installed; genbench starts its local ranks itself.
warnings.filterwarnings("ignore", message=".*The `srun` command is available on your system")
# GenDataModule resumes in-memory data at the exact batch (it counts them); image folders restart the epoch's
# shuffle, as docs/runs.md says. Lightning's warning about non-resumable loaders would say less than that.
warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before the epoch ended")


@dataclass
class RunContext:
    """What a run needs to know about how it was started (from Hydra, or from rank 0 for a rank it started)."""

    output_dir: str
    overrides: list[str]
    multirun: bool
    name: str                 # the job's overrides, or "defaults" (the W&B run's notes)
    sweep: str | None = None  # the sweep folder in a multirun (the W&B group)
    swept: list[str] = field(default_factory=list)  # the job's overrides its sweep varies (in the W&B name)

    @classmethod
    def from_hydra(cls) -> RunContext:
        hydra_cfg = HydraConfig.get()
        multirun = hydra_cfg.mode.name == "MULTIRUN"
        overrides = list(hydra_cfg.overrides.task)
        swept = swept_settings(overrides, hydra_cfg.sweep.dir, hydra_cfg.sweeper.get("params")) if multirun else []
        return cls(output_dir=str(hydra_cfg.runtime.output_dir), overrides=overrides,
                   multirun=multirun, name=hydra_cfg.job.override_dirname or "defaults",
                   sweep=str(hydra_cfg.sweep.dir) if multirun else None, swept=swept)


def build_datamodule(cfg: DictConfig) -> GenDataModule:
    dataset = build_dataset(cfg.dataset, cfg.seed)
    return GenDataModule(dataset, cfg.dataset.batch_size, cfg.seed, cfg.dataset.get("num_workers", 0),
                         steps_per_batch=int(cfg.train.get("steps_per_batch", 1)))


def build_module(cfg: DictConfig, shape: tuple[int, ...]) -> pl.LightningModule:
    """The LightningModule `model.module` names (a file in genbench/modules with `build(cfg, shape)`)."""
    return modules.build(cfg, shape)


def build_trainer(cfg: DictConfig, run_dir: Path, loggers: list, callbacks: list) -> pl.Trainer:
    hw = cfg.hardware
    if hw.get("threads"):
        torch.set_num_threads(int(hw.threads))
    elif hw.accelerator == "cpu" and requested_world_size(hw) > 1:  # CPU ranks share the cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(hw.devices)))
    if hw.get("matmul_precision"):
        torch.set_float32_matmul_precision(hw.matmul_precision)
    from lightning_fabric.plugins.environments import SLURMEnvironment

    # Under SLURM the ranks are SLURM's tasks (tasks per node = devices); submitit, not Lightning, requeues.
    plugins = [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else None
    strategy = "auto"  # one process: nothing to distribute (also when a DDP run is resumed on one device)
    if requested_world_size(hw) > 1:
        from pytorch_lightning.strategies import DDPStrategy

        # Each backward of the GAN game touches one network (D's step, then G's): DDP must be told that the
        # others are unused in it; Lightning prepares DDP's reducer before every manual_backward.
        strategy = DDPStrategy(find_unused_parameters=True, timeout=COLLECTIVE_TIMEOUT,
                               process_group_backend="gloo" if hw.accelerator == "cpu" else None)
    trainer = pl.Trainer(
        accelerator=hw.accelerator, devices=hw.devices, num_nodes=hw.get("num_nodes", 1), strategy=strategy,
        precision=hw.precision, plugins=plugins, sync_batchnorm=bool(hw.get("sync_batchnorm", False)),
        benchmark=hw.get("cudnn_benchmark"),
        max_epochs=-1, max_steps=-1, logger=loggers or False, callbacks=callbacks,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, default_root_dir=str(run_dir), log_every_n_steps=1,
    )
    epoch_loop = trainer.fit_loop.epoch_loop
    if requested_world_size(hw) > 1 and hasattr(epoch_loop, "_broadcast_sigterm_tensor"):
        # Lightning broadcasts rank 0's SIGTERM flag from the device and reads it back before every batch: a host
        # sync per step. genbench's StopOnSignal takes SIGTERM over and agrees on a CPU group instead.
        epoch_loop._broadcast_sigterm_tensor = lambda: None
    return trainer


def _decide(cfg: DictConfig, ctx: RunContext, folder: RunDir) -> Plan:
    """Rank 0: claim the folder (its lock) and decide what this run does with it."""
    if ctx.multirun and not cfg.resume:  # each job is idempotent on its folder
        return plan(folder, ctx.overrides, cfg.rerun.stale_after_min, config_digest(cfg))
    try:
        folder.lock()
    except FolderBusy as holder:
        raise ConfigError(f"{folder.path} is being trained by {holder}: wait for it to end, or stop it first "
                          "(a second process would train the same folder)") from None
    if cfg.resume:
        check_checkpoint(folder, config_identity(cfg))
        return Plan("resume", "resume=")
    if folder.holds_a_run():
        folder.unlock()
        raise ConfigError(f"{folder.path} already holds a run; continue it with resume={folder.path} "
                          "or choose another folder with hydra.run.dir=<dir>")
    return Plan("fresh", "new run")


def _decide_together(cfg: DictConfig, ctx: RunContext, folder: RunDir) -> Plan:
    """Ranks started by a scheduler: rank 0 decides and tells the others (an error ends every rank)."""
    decided = None
    if distributed.rank() == 0:
        try:
            decided = _decide(cfg, ctx, folder)
        except ConfigError as err:
            distributed.broadcast_from_rank0(("error", str(err)))
            raise
    decided = distributed.broadcast_from_rank0(decided)
    if isinstance(decided, tuple):  # rank 0 refused: it reports the error, the others leave quietly
        raise SystemExit(2)
    return decided


def run(cfg: DictConfig, ctx: RunContext, decided: Plan | None = None) -> float | None:
    """Train one configuration on this rank; returns the monitored metric's final value (for sweepers).

    `decided`: rank 0's decision, handed to the ranks it started itself (genbench/parallel/launch.py)."""
    dataset_arguments(cfg.dataset, cfg.seed)  # a key the dataset does not take: refused before the folder is used
    folder = RunDir(ctx.output_dir)
    run_dir = folder.path
    world = requested_world_size(cfg.hardware)
    if external_world_size() > 1:  # SLURM or rank 0 started this rank: join the group first
        init_process_group(cfg.hardware.accelerator)
        decided = decided or _decide_together(cfg, ctx, folder)
    elif decided is None:
        decided = _decide(cfg, ctx, folder)
    if ctx.multirun:
        log.info("job %s: %s", run_dir, decided.reason)
    if decided.action == "skip":
        return decided.value
    resume = decided.action == "resume"
    record = RunRecord(run_dir, cfg.seed, ctx.overrides)
    record.update(config_digest=config_digest(cfg), config_identity=config_identity(cfg), world_size=world)
    module, ranks, last = None, None, None
    try:
        if world > 1 and external_world_size() == 1:  # this process is rank 0 and starts the others
            payload = {"config": OmegaConf.to_yaml(cfg, resolve=True), "context": asdict(ctx),
                       "decided": asdict(decided)}
            ranks = LocalRanks(world, payload, on_failure=lambda why: record.finish(
                "failed", module.g_step if module else 0, error=why))
            init_process_group(cfg.hardware.accelerator)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        data = build_datamodule(cfg)
        data.setup("fit")  # reads the data now: a missing file fails before anything is built
        module = build_module(cfg, data.shape)
        # the metrics that apply (metrics=[auto] resolved for this data), the monitor and its mode
        choice = choose_for(cfg, data, previous=previous_extractor(run_dir) if resume else None)
        startup_gc.settle()  # imported and built: collect once, freeze, resume (before a classifier's training)
        choice.prepare(data)
        metrics = list(choice.metrics)
        evaluator = Evaluator(run_dir, choice, cfg.eval.every, cfg.eval.n, protocol=_protocol(cfg, choice))
        last = LastCheckpoint(run_dir, cfg.train.checkpoint_every, config_identity(cfg))
        callbacks = [evaluator, SampleImages(run_dir, cfg.train.sample_every, seed=cfg.seed), last]
        callbacks += [m for m in metrics if isinstance(m, pl.Callback)]  # e.g. dirac records every step
        callbacks.append(TrainingProgress(cfg.train.max_steps))
        wandb_id = record.data.get("wandb_id") or _new_wandb_id()
        loggers = build_loggers(cfg, run_dir, ctx.name, wandb_id, ctx.sweep, ctx.swept)
        wandb = wandb_logger(loggers)
        figures = WandbFigures(run_dir, wandb, (cfg.train.sample_every, cfg.eval.every)) if wandb else None
        callbacks += [figures] if figures else []  # after the callbacks that draw
        callbacks.append(StopOnSignal(last))  # SIGINT, SIGTERM, a scheduler's time limit: save at a step boundary
        callbacks.append(RandomState(cfg.seed))  # last: restores the generators' states right before the first batch
        record.update(wandb_id=wandb_id if wandb else None, device=environment_device())
        trainer = build_trainer(cfg, run_dir, loggers, callbacks)
        record.update(reproducibility=determinism(cfg))  # after build_trainer applied hardware.threads
        ckpt = str(folder.last_ckpt) if resume else None
        if ckpt:
            log.info("resuming from %s", ckpt)
        with allowed_globals():  # checkpoints load with weights_only=True (genbench/runs/checkpoint_io.py)
            trainer.fit(module, datamodule=data, ckpt_path=ckpt, **_WEIGHTS_ONLY)
        status = "diverged" if module.status == "diverged" else "completed"
        if trainer.is_global_zero:
            evaluator.write(status)
        if status == "diverged":
            log.error("%s", last.divergence_note(module.g_step))
        record.finish(status, module.g_step)
        log.info("run %s: %s after %d generator steps; outputs in %s", run_dir.name, status, module.g_step, run_dir)
        if figures and trainer.is_global_zero:
            figures.log_new(module.g_step)  # what the final evaluation drew
        final = evaluator.history[-1] if evaluator.history else {}
        finish_wandb(loggers, {**final, "status": status, "generator_steps": module.g_step})
        if ranks is not None:
            ranks.join()
            ranks = None
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
    finally:
        if ranks is not None:
            ranks.stop()
        folder.unlock()
        destroy_process_group()


# Lightning >= 2.5 passes weights_only to torch.load; say True explicitly (torch < 2.6 defaults to False)
_WEIGHTS_ONLY = {"weights_only": True} if "weights_only" in inspect.signature(pl.Trainer.fit).parameters else {}


def _protocol(cfg: DictConfig, choice) -> dict:
    """What metrics.json states about the evaluation (feature metrics add their extractor and reference split;
    an automatic choice adds why)."""
    protocol = {"dataset": cfg.dataset.name, **choice.record}
    banks = [m.bank for m in choice.metrics if hasattr(m, "bank")]
    if banks:
        protocol.update(feature_extractor=banks[0].kind, reference_split=cfg.eval.split)
    return protocol


def _new_wandb_id() -> str:
    return os.urandom(4).hex()


