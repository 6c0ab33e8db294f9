"""LightningModules, one file each: gan (GANModule, manual optimization of D and G), vae (VAEModule: VAE,
beta-VAE, IWAE), ebm (EBMModule: energy-based models sampled by Langevin chains). `model.module=<file>` picks
one by file name; each file has `build(cfg, shape)`, the module for
data of `shape` built from the whole composed config, so a new model family is one new file and one YAML.
Both subclass base.GenerativeModule, the interface the callbacks, run.py and genbench-eval rely on."""

from __future__ import annotations

import importlib
import pkgutil

from genbench.errors import ConfigError


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
                  and m.name not in ("optim", "base", "data_noise"))


def build(cfg, shape: tuple[int, ...]):
    name = cfg.model.get("module", "gan")
    if name not in available():
        raise ConfigError(f"model.module={name!r} is not a training module; choose one of {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}").build(cfg, shape)
