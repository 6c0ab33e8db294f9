"""Per-dimension output distributions of the autoregressive models, each with the three things the family needs:
`prepare` (uint8 pixels -> the target), `log_prob(params, target)` (nats per example, summed over every
dimension) and `sample(params, u)` (a draw at one position from uniforms `u`, so a sample is a fixed function of
the model's noise z: fixed sample grids and DDP shards stay reproducible).

- `BernoulliPixels`: binarized pixels, one logit per pixel (the VAE's Bernoulli: dynamic binarization from the
  seeded data generator, identity on statically binarized 0/255 pixels). One channel only: the channels of one
  pixel would otherwise be independent given the previous pixels.
- `LogisticMixturePixels`: PixelCNN++'s discretized logistic mixture (Salimans et al. 2017) on pixels scaled to
  [-1, 1]: K components per pixel, channel c's mean shifted by learned coefficients times the channels before it,
  each channel integrated over its 256 bins (edge bins take the tails): an exact probability of the 8-bit image.
- `GaussianMixture1D`: a K-component Gaussian mixture per coordinate (MADE on 2D toys): a density on the plane.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from genbench.vae.likelihoods import Bernoulli, DiscretizedLogistic

MIN_LOG_SCALE = -7.0
EPS = 1e-5  # uniforms are kept in [EPS, 1 - EPS] before an inverse CDF


def _component(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The mixture component u picks by inverse CDF of softmax(logits) (..., K) -> (...,) long."""
    cdf = torch.softmax(logits, -1).cumsum(-1)
    return torch.searchsorted(cdf, u.unsqueeze(-1).contiguous()).squeeze(-1).clamp(max=logits.shape[-1] - 1)


class BernoulliPixels(Bernoulli):
    uniforms_per_pixel = 1

    def __init__(self, channels: int):
        super().__init__()
        if channels != 1:
            raise ValueError("Bernoulli pixels model one channel")
        self.params_per_pixel = 1

    @staticmethod
    def to_input(target: torch.Tensor) -> torch.Tensor:
        """{0, 1} pixels -> the network's input scale [-1, 1]."""
        return target * 2 - 1

    def sample(self, logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """(B, 1) logits and (B, 1) uniforms -> (B, 1) pixels in {0, 1}."""
        return (u < torch.sigmoid(logits)).to(logits.dtype)


def _discretized_logistic_log_mass(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P(bin of x) of a logistic(mean, exp(log_scale)) on 256 bins of [-1, 1], stable in the tails."""
    inv_scale = torch.exp(-log_scale)
    centred = x - mean
    upper, lower = inv_scale * (centred + 1 / 255), inv_scale * (centred - 1 / 255)
    log_cdf_upper = upper - F.softplus(upper)
    log_sf_lower = -F.softplus(lower)
    log_mass = log_cdf_upper - F.softplus(lower) + torch.log(-torch.expm1(lower - upper))
    return torch.where(x < -0.999, log_cdf_upper, torch.where(x > 0.999, log_sf_lower, log_mass))


class LogisticMixturePixels(DiscretizedLogistic):
    """params per pixel: K logits, K*C means, K*C log-scales, K*C(C-1)/2 coefficients (tanh)."""

    def __init__(self, channels: int, components: int):
        super().__init__()
        self.channels, self.components = channels, components
        self.coeffs = channels * (channels - 1) // 2
        self.params_per_pixel = components * (1 + 2 * channels + self.coeffs)
        self.uniforms_per_pixel = 1 + channels

    @staticmethod
    def to_input(target: torch.Tensor) -> torch.Tensor:
        return target

    def _split(self, params: torch.Tensor):
        """(B, P, *pos) -> logits (B, K, *pos), means, log_scales (B, K, C, *pos), coeffs (B, K, C(C-1)/2, *pos)."""
        k, c = self.components, self.channels
        pos = params.shape[2:]
        logits, means, log_scales, coeffs = params.split([k, k * c, k * c, k * self.coeffs], 1)
        shape = (len(params), k, -1, *pos)
        return (logits, means.reshape(shape), log_scales.reshape(shape).clamp(min=MIN_LOG_SCALE),
                torch.tanh(coeffs.reshape(shape)) if self.coeffs else coeffs)

    def _means(self, means: torch.Tensor, coeffs: torch.Tensor, x: torch.Tensor, c: int) -> torch.Tensor:
        """Channel c's means: its own plus coefficients times the channels before it (x: (B, 1, C, *pos))."""
        mean = means[:, :, c]
        first = c * (c - 1) // 2  # coefficients of channel c: (c, 0), (c, 1), ..., (c, c - 1)
        for j in range(c):
            mean = mean + coeffs[:, :, first + j] * x[:, :, j]
        return mean

    def log_prob(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """params (B, P, H, W), target (B, C, H, W) in [-1, 1] -> (B,) log p."""
        logits, means, log_scales, coeffs = self._split(params)
        x = target.unsqueeze(1)  # (B, 1, C, H, W)
        log_p = torch.log_softmax(logits, 1)
        for c in range(self.channels):
            log_p = log_p + _discretized_logistic_log_mass(x[:, :, c], self._means(means, coeffs, x, c),
                                                           log_scales[:, :, c])
        return torch.logsumexp(log_p, 1).flatten(1).sum(-1)

    def sample(self, params: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """(B, P) params of one pixel, (B, 1 + C) uniforms -> (B, C) pixels on the 256 levels of [-1, 1]: the
        component from u[:, 0], then each channel by the logistic's inverse CDF, rounded to its bin (exactly the
        discretized distribution: the edge bins take the tails)."""
        logits, means, log_scales, coeffs = self._split(params)
        k = _component(logits, u[:, 0])
        pick = k.view(-1, 1, 1).expand(-1, 1, means.shape[2])
        means, log_scales = means.gather(1, pick), log_scales.gather(1, pick)
        if self.coeffs:
            coeffs = coeffs.gather(1, k.view(-1, 1, 1).expand(-1, 1, self.coeffs))
        x = torch.zeros(len(params), 1, self.channels, dtype=params.dtype, device=params.device)
        for c in range(self.channels):
            v = u[:, 1 + c].clamp(EPS, 1 - EPS).view(-1, 1)
            y = self._means(means, coeffs, x, c) + torch.exp(log_scales[:, :, c]) * (v.log() - (-v).log1p())
            x[:, :, c] = ((y + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1
        return x[:, 0]


class GaussianMixture1D:
    """p(x_d | x_<d): K Gaussians; params (B, D, 3K) = logits, means, log-scales."""

    uniforms_per_dim = 2

    def __init__(self, components: int):
        self.components = components
        self.params_per_dim = 3 * components

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, D, 3K), (B, D) -> (B,) log p."""
        logits, mean, log_scale = params.chunk(3, -1)
        log_scale = log_scale.clamp(min=MIN_LOG_SCALE)
        z = (x.unsqueeze(-1) - mean) * torch.exp(-log_scale)
        log_n = -0.5 * z.pow(2) - log_scale - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(torch.log_softmax(logits, -1) + log_n, -1).sum(-1)

    def sample(self, params: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """(B, 3K) params of one coordinate, (B, 2) uniforms -> (B,) draws."""
        logits, mean, log_scale = params.chunk(3, -1)
        k = _component(logits, u[:, 0]).unsqueeze(-1)
        mean, scale = mean.gather(-1, k)[:, 0], torch.exp(log_scale.clamp(min=MIN_LOG_SCALE).gather(-1, k))[:, 0]
        return mean + scale * math.sqrt(2) * torch.erfinv(2 * u[:, 1].clamp(EPS, 1 - EPS) - 1)
