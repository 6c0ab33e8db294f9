"""DensityModule: the GenerativeModule base of the families with an explicit density (gmm, nce).

What they share: data as flat vectors the density is defined on (2D toys as they are; images dequantized,
y = (pixel + u) / 256, or dynamically binarized, with the VAEs' seeded noise, kept in the checkpoint), a one-time
set-up from training data before the first step (`init_from_data`: k-means++ centres, a fitted noise model; on
resume the checkpoint then overwrites it), samples mapped back to model space ([-1, 1] images), and
`log_prob(x)` on model-space 2D points for the toy NLL metric. Image log-densities are reported as log p(y) -
D log 256 (dequantized; a lower bound on the 8-bit image's log-probability, Theis et al. 2016) or exactly
(binarized), in nats per image like the VAEs'."""

from __future__ import annotations

import math

import torch

from genbench.modules.base import GenerativeModule
from genbench.modules.data_noise import DataNoise
from genbench.vae.likelihoods import Bernoulli, Gaussian

INIT_POINTS = 10000  # training points the one-time set-up reads


class DensityModule(DataNoise, GenerativeModule):
    normalized = True  # log_prob integrates to one (False: NCE's self-normalized density)

    def __init__(self, shape: tuple[int, ...], *, image_data: str, z_dim: int, max_steps: int, log_every: int,
                 seed: int = 0):
        super().__init__(z_dim=z_dim, max_steps=max_steps, log_every=log_every)
        self.automatic_optimization = False
        self.event_shape, self.dim = tuple(shape), math.prod(shape)
        self.is_image, self.image_data, self.seed = len(shape) == 3, image_data, seed
        self._prepare = (Bernoulli() if image_data == "binarize" else Gaussian(1, sigma=1.0)).prepare
        # log p(y) of dequantized pixels in [0, 1] -> nats of the 8-bit image
        self.log_prob_offset = -self.dim * math.log(256) if self.is_image and image_data == "dequantize" else 0.0
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    # ----------------------------------------------------------------- data
    def prepare(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A batch as flat (B, D) points of the density's space (images: dequantized or binarized)."""
        if batch.dtype == torch.uint8:
            batch = self._prepare(batch, generator if generator is not None else self.data_rng())
        return batch.float().flatten(1)

    def to_samples(self, points: torch.Tensor) -> torch.Tensor:
        """Flat points of the density's space -> model space (images in [-1, 1], shaped)."""
        if not self.is_image:
            return points
        return points.clamp(0, 1).mul(2).sub(1).view(len(points), *self.event_shape)

    # ----------------------------------------------------------------- one-time set-up from data
    def setup(self, stage: str | None = None) -> None:
        if bool(self.initialized) or self._trainer is None:
            return
        data = self.trainer.datamodule
        generator = torch.Generator().manual_seed(self.seed)
        points = self.prepare(data.real_samples(INIT_POINTS, "train").cpu(), generator)
        self.init_from_data(points.to(self.device), generator)
        self.initialized.fill_(True)

    def init_from_data(self, points: torch.Tensor, generator: torch.Generator) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- densities
    def log_density(self, points: torch.Tensor) -> torch.Tensor:
        """log p of flat points of the density's space (B,)."""
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) of model-space points (the 2D toys: the points themselves), for metrics."""
        return self.log_density(x.to(self.device).float().flatten(1))

    def _nll_stats(self, log_p: torch.Tensor) -> None:
        """Track the batch's negative log-likelihood (nats per example; images: also bits per dimension)."""
        nll = -(log_p.mean() + self.log_prob_offset)
        self._track("train/nll", nll)
        if self.is_image:
            self._track("train/bits_per_dim", nll / (self.dim * math.log(2)))
