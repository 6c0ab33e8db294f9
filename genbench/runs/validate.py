"""The value checks every config check is made of (config_checks.py and each family's own checks): one place
for what "a whole number >= 1", "a finite number" and "an optimizer entry" mean, and for their messages."""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf

from genbench.errors import ConfigError
from genbench.modules import optim


def positive_int(cfg: DictConfig, key: str) -> None:
    value = OmegaConf.select(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}={value!r} must be a whole number >= 1")


def is_number(value) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def optimizer(cfg: DictConfig, key: str) -> None:
    """`key` names an optimizer entry ({name, lr, ...}) that genbench/modules/optim.py can build."""
    optim.check(OmegaConf.select(cfg, key), key)
