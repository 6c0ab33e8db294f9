"""Every picture a run writes into its folder goes to W&B as well, under a key named after its file, so that W&B
shows what the run folder shows. The writers (samples, traversals, reconstructions, the Geometry Score's MRLTs,
birthday pairs, KL per dimension, the Dirac-GAN's phase portrait) only write files; this callback is the one
place that logs them:

    samples/step_500.png                  -> samples                 (step 500)
    samples/traverse_c1_step_500.png      -> samples/traverse_c1     (each code its own key: sizes differ)
    samples/reconstructions_step_500.png  -> samples/reconstructions
    metrics/gs_step_500.png               -> metrics/gs
    phase_portrait.png                    -> figures/phase_portrait  (the run's last step)

It looks for new files at the steps the writers run (sample and evaluation schedules) and at the end; pictures
already in the folder when a run resumes were logged by the attempt that wrote them."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from genbench.callbacks import on_schedule
from genbench.runs.wandb_identity import figure_key

FOLDERS = ("samples", "metrics")  # sub-folders with pictures; the run folder's own *.png are figures/<name>


class WandbFigures(pl.Callback):
    def __init__(self, run_dir: Path, logger, every: tuple[int, ...]):
        self.run_dir, self.logger, self.every = Path(run_dir), logger, tuple(e for e in every if e)
        self.logged: set[Path] = set()

    def pictures(self) -> list[Path]:
        found = [p for folder in FOLDERS for p in (self.run_dir / folder).glob("*.png")]
        return sorted([*found, *self.run_dir.glob("*.png")], key=lambda p: (p.stat().st_mtime, p.name))

    def on_fit_start(self, trainer, module) -> None:
        self.logged = set(self.pictures())  # a resumed run's earlier pictures were logged when they were written

    def log_new(self, step: int) -> list[str]:
        """Log the pictures written since the last call; returns their keys."""
        keys = []
        for path in self.pictures():
            if path in self.logged:
                continue
            self.logged.add(path)
            key, at = figure_key(self.run_dir, path)
            self.logger.log_image(key=key, images=[str(path)], step=step if at is None else at)
            keys.append(key)
        return keys

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.is_global_zero and any(on_schedule(module, every) for every in self.every):
            self.log_new(module.g_step)
