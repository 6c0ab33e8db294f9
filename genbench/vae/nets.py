"""Encoders and decoders. The encoder maps x to the (N, 2 z_dim) parameters of q(z|x) (means, then
log-variances); the decoder maps z to the likelihood's parameters, (N, P * C, ...) for data of shape (C, ...)
and P parameters per value (genbench.vae.likelihoods).

- `mlp`: fully connected, hidden sizes `hidden` (e.g. [400] for Kingma & Welling's / pythae's VAE on MNIST,
  [200, 200] with tanh for Burda et al.'s IWAE), any data shape;
- `conv`: strided convolutions, channels `width`, 2*width, ... down to a 4x4 or 7x7 map, then a linear layer;
  the decoder mirrors it with transposed convolutions (square images of 4*2^k or 7*2^k pixels: 28, 32, 64).
No normalization layers: with batch norm log p(x|z) of one image would depend on the rest of its batch.
`init=glorot`: Glorot-uniform weights and zero biases (Burda et al.'s initialization); `default`: PyTorch's.
"""

from __future__ import annotations

import math

from torch import nn

from genbench.errors import ConfigError
from genbench.nets.layers import size_ladder
from genbench.vae.checks import VAE_ARCHS as ARCHS

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "softplus": nn.Softplus}
INITS = ("default", "glorot")


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"model.nets.activation={name!r}: choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _glorot(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


def _mlp(sizes: list[int], activation: str) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), _activation(activation)]
    return layers


class MLPEncoder(nn.Module):
    def __init__(self, shape, z_dim: int, hidden: list[int], activation: str):
        super().__init__()
        sizes = [math.prod(shape), *hidden]
        self.net = nn.Sequential(nn.Flatten(), *_mlp(sizes, activation), nn.Linear(sizes[-1], 2 * z_dim))

    def forward(self, x):
        return self.net(x)


class MLPDecoder(nn.Module):
    def __init__(self, shape, z_dim: int, hidden: list[int], activation: str, params_per_channel: int):
        super().__init__()
        self.out_shape = (params_per_channel * shape[0], *shape[1:])
        sizes = [z_dim, *hidden]
        self.net = nn.Sequential(*_mlp(sizes, activation), nn.Linear(sizes[-1], math.prod(self.out_shape)))

    def forward(self, z):
        return self.net(z).view(len(z), *self.out_shape)


def _ladder(shape) -> tuple[int, int]:
    try:
        return size_ladder(shape, "conv")
    except ConfigError:
        raise ConfigError(f"model.nets.arch=conv needs square images of 4*2^k or 7*2^k pixels (28, 32, 64); "
                          f"the data has shape {tuple(shape)}: use model.nets.arch=mlp or dataset.image_size=32"
                          ) from None


class ConvEncoder(nn.Module):
    def __init__(self, shape, z_dim: int, width: int, activation: str):
        super().__init__()
        start, downs = _ladder(shape)
        layers: list[nn.Module] = [nn.Conv2d(shape[0], width, 4, 2, 1), _activation(activation)]
        channels = width
        for _ in range(downs - 1):
            layers += [nn.Conv2d(channels, 2 * channels, 4, 2, 1), _activation(activation)]
            channels *= 2
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * start * start, 2 * z_dim))

    def forward(self, x):
        return self.net(x)


class ConvDecoder(nn.Module):
    def __init__(self, shape, z_dim: int, width: int, activation: str, params_per_channel: int):
        super().__init__()
        start, ups = _ladder(shape)
        channels = width * 2 ** (ups - 1)
        self.map_shape = (channels, start, start)
        layers: list[nn.Module] = [nn.Linear(z_dim, channels * start * start), _activation(activation),
                                   nn.Unflatten(1, self.map_shape)]
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1), _activation(activation)]
            channels //= 2
        layers.append(nn.ConvTranspose2d(channels, params_per_channel * shape[0], 4, 2, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


def build_encoder_decoder(nets_cfg, shape: tuple[int, ...], z_dim: int, params_per_channel: int):
    """(encoder, decoder) for data of `shape`, from `model.nets` (arch, hidden, width, activation, init)."""
    arch, activation = nets_cfg.get("arch", "mlp"), nets_cfg.get("activation", "relu")
    if arch == "mlp":
        hidden = [int(h) for h in nets_cfg.get("hidden") or []]
        encoder = MLPEncoder(shape, z_dim, hidden, activation)
        decoder = MLPDecoder(shape, z_dim, hidden[::-1], activation, params_per_channel)
    elif arch == "conv":
        if len(shape) != 3:
            raise ConfigError(f"model.nets.arch=conv needs images; the data has shape {tuple(shape)}: use "
                              "model.nets.arch=mlp")
        width = int(nets_cfg.get("width") or 32)
        encoder = ConvEncoder(shape, z_dim, width, activation)
        decoder = ConvDecoder(shape, z_dim, width, activation, params_per_channel)
    else:
        raise ConfigError(f"model.nets.arch={arch!r}: choose one of {', '.join(ARCHS)}")
    init = nets_cfg.get("init", "default")
    if init not in INITS:
        raise ConfigError(f"model.nets.init={init!r}: choose one of {', '.join(INITS)}")
    if init == "glorot":
        _glorot(encoder)
        _glorot(decoder)
    return encoder, decoder
