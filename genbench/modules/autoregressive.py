"""ARModule (`model=pixelcnn`): autoregressive models, p(x) = prod_d p(x_d | x_<d), trained by teacher forcing (one
pass gives every conditional of the real data; the loss is -log p(x)) and sampled one dimension at a time.

- Images: a gated PixelCNN (genbench/autoregressive/pixelcnn.py) with Bernoulli pixels (`model.output=bernoulli`,
  binarized images: static with dataset.binarize=static, else dynamic from the seeded data generator kept in the
  checkpoint) or PixelCNN++'s discretized logistic mixture (`logistic_mixture`, 8-bit grey or colour).
  `auto`: bernoulli when dataset.binarize=static, else logistic_mixture. Sampling costs H x W sequential steps,
  row-cached (`model.sample.cache`).
- 2D toys: MADE (genbench/autoregressive/made.py) with a Gaussian mixture per coordinate: an exact density on the
  plane, so metrics=[toy_nll] scores it against the true density.

Each step is one generator step. Logged: train/nll (nats per example), train/bits_per_dim (images), grad_norm/ar.
Samples are a fixed function of z, uniforms (one per binary pixel, 1 + C per 8-bit pixel, 2 per coordinate).
`log_likelihood(target)` gives the exact log p of prepared targets (the `nll` metric's exact path).
"""

from __future__ import annotations

import math

import torch
from omegaconf import OmegaConf
from torch import nn

from genbench.autoregressive.made import MADE
from genbench.autoregressive.outputs import BernoulliPixels, LogisticMixturePixels
from genbench.autoregressive.pixelcnn import GatedPixelCNN, sample_pixels
from genbench.density.module import DensityModule
from genbench.modules.base import grad_norm
from genbench.modules.optim import make_optimizer


class ARSampler(nn.Module):
    """z (uniforms) -> model-space samples."""

    def __init__(self, module: ARModule):
        super().__init__()
        self.net = module.net
        self._owner = [module]  # not a submodule

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._owner[0].sample_from(z)


class ARModule(DensityModule):
    eval_batch = 250  # images per pass of the exact likelihood (a PixelCNN's activations are per pixel)

    def __init__(self, shape: tuple[int, ...], net: nn.Module, likelihood: nn.Module | None, *, opt: dict,
                 cache: bool, max_steps: int, log_every: int, seed: int = 0):
        image = len(shape) == 3
        binary = isinstance(likelihood, BernoulliPixels)
        per = likelihood.uniforms_per_pixel * shape[1] * shape[2] if image else 2 * shape[0]
        super().__init__(shape, image_data="binarize" if binary else "discrete", z_dim=per, max_steps=max_steps,
                         log_every=log_every, seed=seed)
        self.net, self.likelihood, self.opt_cfg, self.cache = net, likelihood, dict(opt), cache

    def configure_optimizers(self):
        return make_optimizer(self.opt_cfg, self.net.parameters())

    # ----------------------------------------------------------------- data and densities
    def prepare(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images: the likelihood's targets (B, C, H, W); vectors: (B, D)."""
        if not self.is_image:
            return super().prepare(batch, generator)
        return self.likelihood.prepare(batch, generator if generator is not None else self.data_rng())

    def init_from_data(self, points: torch.Tensor, generator: torch.Generator) -> None:
        if not self.is_image:
            self.net.init_output(points)

    def log_likelihood(self, target: torch.Tensor) -> torch.Tensor:
        """Exact log p of prepared targets, (B,) nats."""
        if not self.is_image:
            return self.net.log_prob(target)
        return self.likelihood.log_prob(self.net(self.likelihood.to_input(target)), target)

    def log_density(self, points: torch.Tensor) -> torch.Tensor:
        return self.log_likelihood(points.view(len(points), *self.event_shape) if self.is_image else points)

    # ----------------------------------------------------------------- sampling
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = generator.device if generator is not None else self.device
        return torch.rand(n, self.z_dim, generator=generator, device=device)

    @property
    def sampler(self) -> nn.Module:
        return ARSampler(self).train(self.net.training)

    def sample_from(self, z: torch.Tensor) -> torch.Tensor:
        if not self.is_image:
            return self.net.sample(z)
        x = sample_pixels(self.net, self.likelihood, z, self.event_shape, self.cache)
        return self.likelihood.to_input(x)  # {0, 1} -> [-1, 1]; 8-bit pixels already are

    # ----------------------------------------------------------------- training
    def train_batch(self, batch) -> None:
        opt = self.optimizers()
        log_p = self.log_likelihood(self.prepare(batch))
        loss = -log_p.mean()
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if (self.g_step + 1) % self.log_every == 0:
            self._track("grad_norm/ar", grad_norm(self.net))
        opt.step()
        self._nll_stats(log_p.detach())
        self.g_step += 1
        self.stepped_generator = True
        self._log_and_stop()


def output_name(cfg) -> str:
    """model.output, `auto` resolved: bernoulli on statically binarized images, else logistic_mixture."""
    name = cfg.model.output
    if name == "auto":
        name = "bernoulli" if OmegaConf.select(cfg, "dataset.binarize") == "static" else "logistic_mixture"
    return name


def build(cfg, shape: tuple[int, ...]) -> ARModule:
    m = cfg.model
    opt = OmegaConf.to_container(m.opt)
    if len(shape) == 3:
        channels = shape[0]
        name = output_name(cfg)
        likelihood = (BernoulliPixels(channels) if name == "bernoulli"
                      else LogisticMixturePixels(channels, int(m.components)))
        p = m.pixelcnn
        net = GatedPixelCNN(channels, likelihood.params_per_pixel, width=m.nets.width, layers=p.layers,
                            first_kernel=p.first_kernel, kernel=p.kernel, head=p.head)
    else:
        likelihood = None
        net = MADE(math.prod(shape), list(m.made.hidden), int(m.components))
        opt["lr"] = float(m.made.lr)
    return ARModule(tuple(shape), net, likelihood, opt=opt, cache=bool(m.sample.cache),
                    max_steps=cfg.train.max_steps, log_every=cfg.train.log_every, seed=cfg.seed)
