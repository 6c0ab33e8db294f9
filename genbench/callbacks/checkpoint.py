"""checkpoints/last.ckpt on a schedule and at the end; never with a non-finite weight or optimizer state.

Written to a temporary file and renamed, so a kill during the write never leaves a broken checkpoint. Saving is
collective under DDP (every rank calls it; rank 0 writes). Every checkpoint carries the run's config identity
(genbench/runs/resume.py), so a resume can tell that a checkpoint belongs to its run. Interruptions (SIGINT, SIGTERM,
a scheduler's signal) save through `save` at a step boundary (genbench/callbacks/preemption.py).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytorch_lightning as pl
import torch

from genbench.callbacks import on_schedule
from genbench.errors import storage_error
from genbench.runs.run_dir import RunDir

log = logging.getLogger("genbench")


def save_atomic(trainer: pl.Trainer, path: Path) -> None:
    """Every rank calls this (Trainer.save_checkpoint ends in a barrier); rank 0 writes and renames."""
    tmp = path.with_suffix(".ckpt.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(tmp)
        if trainer.is_global_zero:
            os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        # a full disk or a read-only folder (torch.save reports a failed write as a RuntimeError): the previous
        # checkpoint stays whole
        if isinstance(err, RuntimeError) and "write" not in str(err).lower():
            raise
        if trainer.is_global_zero:
            tmp.unlink(missing_ok=True)
        raise storage_error(path, err if isinstance(err, OSError) else OSError(str(err).splitlines()[0])) from None


def optimizer_states_finite(trainer: pl.Trainer) -> bool:
    """True when every tensor in every optimizer's state (Adam's moments, ...) is finite."""
    for opt in trainer.optimizers:
        for state in opt.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
                    return False
    return True


class LastCheckpoint(pl.Callback):
    def __init__(self, run_dir: Path, every: int, identity: str | None = None):
        self.path = RunDir(run_dir).last_ckpt
        self.every, self.identity = every, identity
        self.saved_step: int | None = None  # the generator step last.ckpt holds (this session or before)
        self._saved = -1

    def on_train_start(self, trainer, module) -> None:
        if self.path.is_file():  # resumed: the checkpoint holds the step training restarts from
            self.saved_step = module.g_step

    def save(self, trainer: pl.Trainer, module) -> None:
        if module.g_step == self._saved:
            return
        if not module.check_finite(parameters=True, optimizers=trainer):
            return
        save_atomic(trainer, self.path)
        self._saved = self.saved_step = module.g_step

    def on_save_checkpoint(self, trainer, module, checkpoint: dict) -> None:
        checkpoint.setdefault("genbench", {})["config_identity"] = self.identity

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if on_schedule(module, self.every):
            self.save(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        if module.status != "interrupted":
            self.save(trainer, module)

    def divergence_note(self, step: int) -> str:
        """What a diverged run kept, in one sentence for the log."""
        if self.saved_step is None:
            return (f"the run diverged at or before generator step {step}, before its first checkpoint: no "
                    "checkpoints/last.ckpt was written")
        return (f"the run diverged at or before generator step {step}: checkpoints/last.ckpt holds generator step "
                f"{self.saved_step}, the last state saved with finite weights and optimizer states")
