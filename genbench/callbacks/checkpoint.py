"""checkpoints/last.ckpt on a schedule, at the end and on interruption; never after a NaN.

Written to a temporary file and renamed, so a kill during the write never leaves a broken checkpoint.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytorch_lightning as pl

from genbench.callbacks import on_schedule

log = logging.getLogger("genbench")


def save_atomic(trainer: pl.Trainer, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".ckpt.tmp")
    trainer.save_checkpoint(tmp)
    if trainer.is_global_zero:
        os.replace(tmp, path)


class LastCheckpoint(pl.Callback):
    def __init__(self, run_dir: Path, every: int):
        self.path = Path(run_dir) / "checkpoints" / "last.ckpt"
        self.every = every
        self._saved = -1

    def save(self, trainer: pl.Trainer, module) -> None:
        if module.g_step == self._saved or not module.check_finite(parameters=True):
            return
        save_atomic(trainer, self.path)
        self._saved = module.g_step

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if on_schedule(module, self.every):
            self.save(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self.save(trainer, module)

    def on_exception(self, trainer, module, exception: BaseException) -> None:
        if isinstance(exception, (KeyboardInterrupt, SystemExit)):  # SIGTERM arrives as SIGTERMException
            log.warning("interrupted at generator step %d: saving %s", module.g_step, self.path)
            module.status = "interrupted"
            self.save(trainer, module)
