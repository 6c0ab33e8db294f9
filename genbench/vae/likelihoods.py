"""Decoder likelihoods p(x|z): how a batch of uint8 pixels becomes the target x, log p(x|z) of the decoder's
output, and the decoder's mean image (what samples and reconstructions show).

- `bernoulli`: binarized pixels. Dynamic binarization (the default): every batch is drawn afresh,
  x ~ Bernoulli(pixel / 255), from a seeded generator, so the model sees new binary images each epoch
  (Burda et al. 2015). Static binarization is a dataset option (`dataset.binarize=static`: one fixed draw
  per image at load time); on 0/255 pixels the draw here is the identity. Decoder output: logits.
- `gaussian`: N(x; mu, sigma^2) per pixel on dequantized pixels y = (pixel + u) / 256, u ~ U[0, 1); sigma is one
  learned value per channel (`sigma: null`) or fixed. Reported as log p(y) - D log 256, a lower bound on the
  log-probability of the 8-bit image (Theis et al. 2016), so its numbers compare with `discretized_logistic`'s.
- vectors (the 2D toys, any `name`): `VectorGaussian`, a Gaussian on the real values, sigma learned or fixed.
- `discretized_logistic`: a logistic per pixel (mean and log-scale from the decoder) integrated over each of
  the 256 pixel bins, the edge bins taking the tails (Salimans et al. 2017): an exact probability of the 8-bit
  image. Pixels scaled to [-1, 1].
log p is summed over every pixel and channel: nats per image.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from genbench.parallel import distributed
from genbench.vae.bounds import LOG_2PI
from genbench.vae.checks import LIKELIHOODS


def _sum_event(values: torch.Tensor, event_ndim: int) -> torch.Tensor:
    return values.flatten(-event_ndim).sum(-1)


class Likelihood(nn.Module):
    """`params_per_channel` decoder output channels per data channel; `prepare(batch, generator)` -> target
    (also the encoder's input); `log_prob(params, target)` -> log p summed over the data dimensions, for params
    of shape (..., P*C, ...) and a target (B, C, ...) broadcast against them; `mean(params)` in [0, 1];
    `display(target)` in [0, 1]."""

    name = ""
    params_per_channel = 1

    def prepare(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return batch.float()

    def log_prob(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def display(self, target: torch.Tensor) -> torch.Tensor:
        return target.clamp(0, 1)


def _uniform_like(batch: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """U[0, 1) per pixel of the local batch: this rank's rows of one draw for the global batch."""
    return distributed.local_rows(
        lambda n: torch.rand((n, *batch.shape[1:]), generator=generator, device=batch.device), len(batch))


class Bernoulli(Likelihood):
    name = "bernoulli"

    def prepare(self, batch, generator=None):
        if batch.dtype != torch.uint8:
            return batch.float()
        return (_uniform_like(batch, generator) < batch.float().div_(255.0)).float()

    def log_prob(self, logits, target):
        # x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)), one fused kernel (k x B x pixels is large for the NLL)
        values = F.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="none")
        return -_sum_event(values, target.dim() - 1)

    def mean(self, logits):
        return torch.sigmoid(logits)


class Gaussian(Likelihood):
    name = "gaussian"

    def __init__(self, channels: int, sigma: float | None = None, levels: int | None = 256):
        super().__init__()
        self.levels = levels
        log_sigma = torch.full((channels,), math.log(0.1 if sigma is None else float(sigma)))
        if sigma is None:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    def prepare(self, batch, generator=None):
        if batch.dtype != torch.uint8:
            return batch.float()
        noise = _uniform_like(batch, generator)
        return (batch.float() + noise).div_(float(self.levels or 256))

    def log_prob(self, mean, target):
        event_ndim = target.dim() - 1
        log_sigma = self.log_sigma.view(-1, *([1] * (event_ndim - 1)))
        values = -0.5 * (LOG_2PI + 2 * log_sigma + (target - mean).pow(2) * torch.exp(-2 * log_sigma))
        out = _sum_event(values, event_ndim)
        if self.levels:
            out = out - math.prod(target.shape[1:]) * math.log(self.levels)
        return out

    def mean(self, mean):
        return mean.clamp(0, 1)


class VectorGaussian(Gaussian):
    """N(x; mu, diag(sigma^2)) on real vectors (the 2D toys): no dequantization, no clamp, sigma one learned value
    per coordinate (`sigma: null`) or fixed. A draw of p(x|z) is mu + sigma * eps (`draw`): on vectors the VAE's
    samples are draws, so mode coverage and the Geometry Score see the model's density, not its decoder means."""

    def __init__(self, dim: int, sigma: float | None = None):
        super().__init__(dim, sigma, levels=None)

    def mean(self, mean):
        return mean

    def display(self, target):
        return target

    def draw(self, mean: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return mean + self.log_sigma.exp() * eps


class DiscretizedLogistic(Likelihood):
    name = "discretized_logistic"
    params_per_channel = 2
    min_log_scale = -7.0

    def prepare(self, batch, generator=None):
        if batch.dtype != torch.uint8:
            return batch.float()
        return batch.float().div_(127.5).sub_(1.0)

    def log_prob(self, params, target):
        event_ndim = target.dim() - 1
        loc, log_scale = params.chunk(2, dim=-event_ndim)
        log_scale = log_scale.clamp(min=self.min_log_scale)
        inv_scale = torch.exp(-log_scale)
        half_bin = 1.0 / 255.0
        centred = target - loc
        upper = inv_scale * (centred + half_bin)
        lower = inv_scale * (centred - half_bin)
        log_cdf_upper = upper - F.softplus(upper)       # log sigmoid(upper): the lowest bin takes (-inf, upper]
        log_sf_lower = -F.softplus(lower)               # log(1 - sigmoid(lower)): the highest takes [lower, inf)
        # an inner bin: log(sigma(u) - sigma(l)) = log sigma(u) + log sigma(-l) + log(1 - exp(l - u)), stable
        # where the bin lies far in a tail (both sigmoids ~0 or ~1) and the plain difference would round to 0
        log_mass = log_cdf_upper - F.softplus(lower) + torch.log(-torch.expm1(lower - upper))
        log_p = torch.where(target < -0.999, log_cdf_upper, torch.where(target > 0.999, log_sf_lower, log_mass))
        return _sum_event(log_p, event_ndim)

    def mean(self, params):
        loc = params.chunk(2, dim=1)[0]  # decoder output (N, 2C, ...)
        return ((loc + 1) / 2).clamp(0, 1)

    def display(self, target):
        return ((target + 1) / 2).clamp(0, 1)


def build_likelihood(name: str, channels: int, sigma: float | None = None) -> Likelihood:
    if name == "bernoulli":
        return Bernoulli()
    if name == "gaussian":
        return Gaussian(channels, sigma)
    if name == "discretized_logistic":
        return DiscretizedLogistic()
    raise ValueError(f"likelihood {name!r}: choose one of {', '.join(LIKELIHOODS)}")
