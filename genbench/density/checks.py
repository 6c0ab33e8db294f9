"""Config checks of the density families (model=gmm, model=nce), run by genbench.runs.config_checks before any data
is read; OmegaConf only, like the rest of the checks."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from genbench.errors import ConfigError
from genbench.runs.validate import is_number, optimizer, positive_int

IMAGE_DATA = ("dequantize", "binarize")
COVARIANCES = ("full", "diag")
FITS = ("gradient", "em")
PARAMETRIZATIONS = ("ratio", "energy", "quadratic")
NOISE_MODELS = ("gaussian", "gmm")


def _choice(cfg: DictConfig, key: str, options: tuple[str, ...]) -> None:
    value = OmegaConf.select(cfg, key)
    if value not in options:
        raise ConfigError(f"{key}={value!r}: choose one of {', '.join(options)}")


def _positive(cfg: DictConfig, key: str, example: str) -> None:
    value = OmegaConf.select(cfg, key)
    if not is_number(value) or value <= 0:
        raise ConfigError(f"{key}={value!r} must be a positive number, e.g. {key}={example}")


def check_density(cfg: DictConfig) -> None:
    family = cfg.model.family
    _choice(cfg, "model.image_data", IMAGE_DATA)
    optimizer(cfg, "model.opt")
    if family == "gmm":
        positive_int(cfg, "model.components")
        _choice(cfg, "model.covariance", COVARIANCES)
        _choice(cfg, "model.fit", FITS)
        _positive(cfg, "model.min_std", "1e-3")
        decay = cfg.model.em_decay
        if not is_number(decay) or not 0.5 < decay <= 1:
            raise ConfigError(f"model.em_decay={decay!r} must be in (0.5, 1] (stepwise EM's step size (t + 2)^-decay "
                              "converges for those), e.g. model.em_decay=0.6")
    else:
        _choice(cfg, "model.parametrization", PARAMETRIZATIONS)
        hidden = cfg.model.hidden
        if not hidden or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden):
            raise ConfigError(f"model.hidden={OmegaConf.to_container(hidden) if hidden else hidden!r} must list "
                              "layer widths >= 1, e.g. model.hidden=[128,128]")
        _choice(cfg, "model.noise.name", NOISE_MODELS)
        _choice(cfg, "model.noise.covariance", COVARIANCES)
        _positive(cfg, "model.noise.min_std", "1e-3")
        for key in ("model.noise.components", "model.noise.em_iters", "model.nu", "model.sir.proposals"):
            positive_int(cfg, key)
