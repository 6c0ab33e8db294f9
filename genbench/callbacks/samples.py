"""samples/step_<N>.png on a schedule and at the end, from a fixed noise batch so frames compare; plus, for
modules with structured latents (InfoGAN), one latent-traversal picture per code, samples/traverse_<code>_step_<N>.png.

The traversal interface: a module may define `traversals(rows, generator) -> list[Traversal]`, each a grid of
latent vectors `z` (rows * len(values), row-major) in which row r keeps one draw of everything else and column j
sets the code `name` to `values[j]`. Images give a rows x columns image grid under a band naming the code and
each column's value; 2D data a scatter plot over the data, one colour per column. 2D points beyond the plot's
view are marked at its border with their count (genbench.plots.mark_outside), and the log says how many.
The latents are drawn once, from the seed, so frames compare.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import pytorch_lightning as pl
import torch

from genbench.callbacks import on_schedule
from genbench.plots import code_scatter_png, format_value, grid_png, labelled_grid_png, scatter_png

log = logging.getLogger("genbench")

TRAVERSAL_ROWS = 10  # rows of fixed noise in an image traversal; 2D: n_points / 10 points per value


class Traversal(NamedTuple):
    name: str               # the code, e.g. "c1" (file name traverse_c1_step_<N>.png)
    values: list            # the code's value in each column (a category index or a number)
    z: torch.Tensor         # (rows * len(values), latent width), row-major


class SampleImages(pl.Callback):
    def __init__(self, run_dir: Path, every: int, n_images: int = 64, n_points: int = 2000, seed: int = 0):
        self.dir = Path(run_dir) / "samples"
        self.every, self.n_images, self.n_points, self.seed = every, n_images, n_points, seed
        self._z: torch.Tensor | None = None
        self._traversals: list[Traversal] | None = None
        self._written = -1

    def _write(self, trainer: pl.Trainer, module) -> None:
        if module.g_step == self._written:
            return
        self._written = module.g_step  # on every rank: each check below is a collective all ranks must join
        if not module.check_finite() or not trainer.is_global_zero:
            return
        data = trainer.datamodule
        if not data.is_image and data.shape != (2,):
            return  # no picture of samples for other vectors (Dirac-GAN runs draw phase_portrait.png instead)
        n = self.n_images if data.is_image else self.n_points
        if self._z is None:
            self._z = module.noise(n, generator=torch.Generator().manual_seed(self.seed))
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"step_{module.g_step}.png"
        samples = module.sample(n, self._z)
        if data.is_image:
            grid_png(samples, path)
        else:
            _say_outside(path, scatter_png(samples, data.real_samples(n), path, f"{data.dataset.__class__.__name__}, "
                                           f"generator step {module.g_step}"))
        self._write_traversals(module, data)  # W&B: genbench/callbacks/wandb_figures.py logs every picture

    def _write_traversals(self, module, data) -> list[Path]:
        if not hasattr(module, "traversals"):
            return []
        if self._traversals is None:
            rows = TRAVERSAL_ROWS if data.is_image else max(1, self.n_points // TRAVERSAL_ROWS)
            self._traversals = module.traversals(rows, torch.Generator().manual_seed(self.seed))
        paths = []
        for t in self._traversals:
            path = self.dir / f"traverse_{t.name}_step_{module.g_step}.png"
            samples = module.sample(len(t.z), t.z)
            if data.is_image:  # columns labelled with the code's value
                labelled_grid_png(samples, path, [format_value(v) for v in t.values],
                                  f"code {t.name} (column: its value), step {module.g_step}")
            else:
                _say_outside(path, code_scatter_png(samples, t.values, data.real_samples(self.n_points), path,
                                                    f"code {t.name} (colour: its value), step {module.g_step}"))
            paths.append(path)
        return paths

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if on_schedule(module, self.every):
            self._write(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self._write(trainer, module)


def _say_outside(path: Path, info: dict) -> None:
    """The log says what the picture's border arrows say: how many generated points lie beyond the view."""
    if info["outside"] or info["non_finite"]:
        log.info("%s/%s: %d of %d generated samples outside the plot%s", path.parent.name, path.name,
                 info["outside"], info["n"], f", {info['non_finite']} not finite" if info["non_finite"] else "")
