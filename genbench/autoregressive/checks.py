"""Config checks of model=pixelcnn (genbench/modules/autoregressive.py), run by genbench.runs.config_checks before
any data is read; OmegaConf only."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from genbench.errors import ConfigError
from genbench.runs.validate import is_number, optimizer, positive_int

OUTPUTS = ("auto", "bernoulli", "logistic_mixture")


def _odd_kernel(cfg: DictConfig, key: str, least: int) -> None:
    value = OmegaConf.select(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < least or value % 2 == 0:
        raise ConfigError(f"{key}={value!r} must be an odd whole number >= {least}, e.g. {key}={max(least, 3)}")


def check_autoregressive(cfg: DictConfig) -> None:
    m = cfg.model
    if m.output not in OUTPUTS:
        raise ConfigError(f"model.output={m.output!r}: choose one of {', '.join(OUTPUTS)}")
    for key in ("model.components", "model.nets.width", "model.pixelcnn.layers", "model.pixelcnn.head"):
        positive_int(cfg, key)
    _odd_kernel(cfg, "model.pixelcnn.first_kernel", 3)  # mask A needs a pixel to its left: k//2 >= 1
    _odd_kernel(cfg, "model.pixelcnn.kernel", 1)
    hidden = m.made.hidden
    if not hidden or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden):
        raise ConfigError(f"model.made.hidden={OmegaConf.to_container(hidden) if hidden else hidden!r} must list "
                          "layer widths >= 1, e.g. model.made.hidden=[128,128]")
    if not is_number(m.made.lr) or m.made.lr <= 0:
        raise ConfigError(f"model.made.lr={m.made.lr!r} must be a positive number, e.g. model.made.lr=1e-2")
    if not isinstance(m.sample.cache, bool):
        raise ConfigError(f"model.sample.cache={m.sample.cache!r}: choose true or false")
    optimizer(cfg, "model.opt")
    channels = OmegaConf.select(cfg, "dataset.channels")
    binarize = OmegaConf.select(cfg, "dataset.binarize")
    if m.output == "bernoulli" and isinstance(channels, int) and channels != 1:
        raise ConfigError(f"model.output=bernoulli models binarized grey pixels but dataset={cfg.dataset.name} has "
                          f"{channels} channels: use model.output=logistic_mixture (8-bit pixels)")
    if m.output == "logistic_mixture" and binarize == "static":
        raise ConfigError("model.output=logistic_mixture models 8-bit pixels but dataset.binarize=static leaves two "
                          "levels: use model.output=bernoulli (or auto), or drop dataset.binarize")
    for key in ("n", "rows"):
        if OmegaConf.select(cfg, f"metrics.nll.{key}") is not None:
            positive_int(cfg, f"metrics.nll.{key}")
    if OmegaConf.select(cfg, "metrics.toy_nll") is not None:
        for key in ("metrics.toy_nll.n", "metrics.toy_nll.grid"):
            positive_int(cfg, key)
