"""Training progress: generator steps, rate, time left and the latest losses (genbench/progress.py: a bar on a
terminal, plain periodic lines elsewhere). Rank 0 only."""

from __future__ import annotations

import pytorch_lightning as pl

from genbench.progress import Stage

SHOWN = 4  # latest statistics beside the bar


class TrainingProgress(pl.Callback):
    every = ()  # shows the step at any batch end (genbench/runs/step_chunks.py)
    def __init__(self, max_steps: int):
        self.max_steps = max_steps
        self.stage: Stage | None = None

    def on_train_start(self, trainer, module) -> None:
        if trainer.is_global_zero:
            self.stage = Stage("training", total=self.max_steps, unit="steps", start=module.g_step)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.stage is not None and module.g_step != self.stage.done:
            latest = [f"{k} {v:.4g}" for k, v in module.latest.items() if k.startswith("loss/")][:SHOWN]
            self.stage.update(module.g_step, note="  ".join(latest))

    def _close(self) -> None:
        if self.stage is not None:
            self.stage.close()
            self.stage = None

    def on_train_end(self, trainer, module) -> None:
        self._close()

    def on_exception(self, trainer, module, exception) -> None:
        self._close()
