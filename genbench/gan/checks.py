"""Config checks of the GAN family (every model whose model.family is gan), run by genbench.runs.config_checks
before any data is read; OmegaConf only, like the rest of the checks. The update schemes and orders named here are
the ones GANModule (genbench/modules/gan.py) runs."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from genbench.errors import ConfigError
from genbench.runs.validate import optimizer, positive_int

UPDATES = ("alternating", "simultaneous")
ORDERS = ("d_first", "g_first")  # train.order: which player opens an alternating cycle


def check_gan(cfg: DictConfig) -> None:
    """The GAN recipes (genbench/modules/gan.py, bgan.py, infogan.py): the game's schedule and optimizers, EMA,
    a network pairing that does not train, InfoGAN's codes."""
    positive_int(cfg, "model.n_critic")
    optimizer(cfg, "model.opt_g")
    optimizer(cfg, "model.opt_d")
    decay = cfg.model.ema.decay
    if decay is not None and not (isinstance(decay, (int, float)) and 0 < decay < 1):
        raise ConfigError(f"model.ema.decay={decay!r} must be in (0, 1), e.g. 0.999, or null for no EMA")
    nets = cfg.model.nets
    if "channels" in cfg.dataset and nets.get("image") == "resnet32" and nets.get("d_norm") == "batch":
        # measured on MNIST (model=gan, reg=gp0): reg/gp0 800, grad_norm/d 2900 within 10 steps (d_norm=none: 13, 250)
        raise ConfigError("model.nets.image=resnet32 with model.nets.d_norm=batch does not train (its gradient norms "
                          "blow up within 10 steps; the ResNet papers' discriminators have no batch norm): leave "
                          "d_norm out (resnet32's default: none) or give model.nets.d_norm=none or layer")
    updates = OmegaConf.select(cfg, "train.updates", default="alternating")
    if updates not in UPDATES:
        raise ConfigError(f"train.updates={updates!r}: choose alternating (the players take turns; train.order "
                          "says who starts) or simultaneous (both players' gradients at one point, then both step)")
    order = OmegaConf.select(cfg, "train.order", default="d_first")
    if order not in ORDERS:
        raise ConfigError(f"train.order={order!r}: choose d_first (n_critic D steps, then G against the updated D) "
                          "or g_first (G steps, then n_critic D steps against the updated G)")
    if cfg.model.get("module") == "infogan":
        _infogan_codes(cfg)


def _infogan_codes(cfg: DictConfig) -> None:
    """model.codes of model=infogan (genbench/modules/infogan.py)."""
    codes = cfg.model.get("codes")
    if codes is None:
        raise ConfigError("model.module=infogan needs model.codes (categorical, continuous, ...): use model=infogan")
    categorical, continuous = list(codes.get("categorical") or []), codes.get("continuous") or 0
    if any(isinstance(k, bool) or not isinstance(k, int) or k < 2 for k in categorical):
        raise ConfigError(f"model.codes.categorical={categorical!r} must list whole numbers >= 2 (values per code), "
                          "e.g. [10]")
    if isinstance(continuous, bool) or not isinstance(continuous, int) or continuous < 0:
        raise ConfigError(f"model.codes.continuous={continuous!r} must be a whole number >= 0")
    if not categorical and not continuous:
        raise ConfigError("model.codes has no code (categorical=[], continuous=0): give at least one, "
                          "e.g. model.codes.categorical=[10]")
    for key in ("lambda_categorical", "lambda_continuous", "traversal_range"):
        value = codes.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"model.codes.{key}={value!r} must be a number >= 0")
    for key in ("q_hidden", "traversal_steps"):
        positive_int(cfg, f"model.codes.{key}")
