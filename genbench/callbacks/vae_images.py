"""A VAE's pictures besides its prior samples (samples/step_<N>.png, SampleImages), on the same schedule:

- samples/reconstructions_step_<N>.png: `n_pairs` held-out images (the test split, as the likelihood sees them,
  e.g. binarized) each followed by its reconstruction, the decoder's mean at the posterior mean;
- samples/traversals_step_<N>.png: one row per latent dimension (the `dims` with the largest KL on those
  images, most informative first), each moving that coordinate of the first image's posterior mean over
  `values` points in [-span, span] with the others fixed (labelled: z_u on the left, the value above).
The images and their binarization are drawn once from fixed seeds, so frames of a run compare.
The VAEModule attaches this callback itself (`configure_callbacks`).
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from genbench.callbacks import on_schedule
from genbench.plots import format_value, grid_png, labelled_grid_png
from genbench.vae.bounds import gaussian_kl


class VAEImages(pl.Callback):
    def __init__(self, every: int, n_pairs: int = 32, dims: int = 10, values: int = 11, span: float = 3.0,
                 seed: int = 0):
        self.every, self.n_pairs, self.seed = every, n_pairs, seed
        self.dims, self.values, self.span = dims, values, span
        self._target: torch.Tensor | None = None
        self._written = -1

    def _held_out(self, data, module) -> torch.Tensor:
        if self._target is None:
            try:
                images = data.real_samples(self.n_pairs, "test")
            except (ValueError, KeyError):  # a dataset without a test split
                images = data.real_samples(self.n_pairs, "train")
            rng = torch.Generator().manual_seed(self.seed)
            self._target = module.likelihood.prepare(images, rng)
        return self._target.to(module.device)

    @torch.no_grad()
    def write(self, trainer: pl.Trainer, module) -> list[Path]:
        data = trainer.datamodule
        if module.g_step == self._written:
            return []
        self._written = module.g_step  # on every rank: check_finite is a collective all ranks must join
        if not module.check_finite() or not trainer.is_global_zero or not data.is_image:
            return []
        out = Path(trainer.default_root_dir) / "samples"
        out.mkdir(parents=True, exist_ok=True)
        target = self._held_out(data, module)
        was_training = module.training
        module.eval()
        try:
            mu, logvar = module.posterior(target)
            shown = module.likelihood.display(target).mul(2).sub(1)
            pairs = torch.stack([shown, module.sampler(mu)], 1).flatten(0, 1)  # input, reconstruction, ...
            recon_path = out / f"reconstructions_step_{module.g_step}.png"
            grid_png(pairs, recon_path, nrow=16)
            order = gaussian_kl(mu, logvar).mean(0).argsort(descending=True)[:self.dims]
            grid = torch.linspace(-self.span, self.span, self.values, device=mu.device)
            z = mu[:1].repeat(len(order) * self.values, 1)
            for row, dim in enumerate(order.tolist()):
                z[row * self.values:(row + 1) * self.values, dim] = grid
            traversal_path = out / f"traversals_step_{module.g_step}.png"
            labelled_grid_png(module.sampler(z), traversal_path, [format_value(v) for v in grid.tolist()],
                              f"latent z_u (row) set to the value (column), step {module.g_step}",
                              row_labels=[f"z{d}" for d in order.tolist()])
        finally:
            module.train(was_training)
        return [recon_path, traversal_path]

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if on_schedule(module, self.every):
            self.write(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self.write(trainer, module)
