"""samples/step_<N>.png on a schedule and at the end, from a fixed noise batch so frames compare."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from genbench.callbacks import on_schedule
from genbench.plots import grid_png, scatter_png


class SampleImages(pl.Callback):
    def __init__(self, run_dir: Path, every: int, n_images: int = 64, n_points: int = 2000, seed: int = 0):
        self.dir = Path(run_dir) / "samples"
        self.every, self.n_images, self.n_points, self.seed = every, n_images, n_points, seed
        self._z: torch.Tensor | None = None
        self._written = -1

    def _write(self, trainer: pl.Trainer, module) -> None:
        if module.g_step == self._written or not module.check_finite() or not trainer.is_global_zero:
            return
        data = trainer.datamodule
        if not data.is_image and data.shape != (2,):
            return  # no picture of samples for other vectors (Dirac-GAN runs draw phase_portrait.png instead)
        n = self.n_images if data.is_image else self.n_points
        if self._z is None:
            self._z = torch.randn(n, module.z_dim, generator=torch.Generator().manual_seed(self.seed))
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"step_{module.g_step}.png"
        samples = module.sample(n, self._z)
        if data.is_image:
            grid_png(samples, path)
        else:
            scatter_png(samples, data.real_samples(n), path, f"{data.dataset.__class__.__name__}, "
                        f"generator step {module.g_step}")
        self._written = module.g_step
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image(key="samples", images=[str(path)], step=module.g_step)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if on_schedule(module, self.every):
            self._write(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self._write(trainer, module)
