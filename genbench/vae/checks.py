"""Config checks of the VAEs (model=vae, beta_vae, iwae) and their metrics, run by genbench.runs.config_checks
before any data is read; OmegaConf only, like the rest of the checks. The likelihoods and encoder/decoder
architectures named here are the ones genbench/vae/likelihoods.py and nets.py build."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from genbench.errors import ConfigError
from genbench.runs.validate import is_number, optimizer, positive_int

LIKELIHOODS = ("bernoulli", "gaussian", "discretized_logistic")
VAE_ARCHS = ("mlp", "conv")


def check_vae(cfg: DictConfig) -> None:
    """model=vae, beta_vae, iwae (genbench/modules/vae.py) and their metrics' settings."""
    m = cfg.model
    if cfg.dataset.name == "dirac":
        raise ConfigError(f"model={m.name} learns a distribution of images or vectors; dataset=dirac is the "
                          "Dirac-GAN's single point: choose dataset=ring8, grid25, mnist, ...")
    if OmegaConf.select(cfg, "dataset.image_size") is None and m.likelihood.name == "discretized_logistic":
        raise ConfigError(f"model.likelihood.name=discretized_logistic models 8-bit pixels; dataset="
                          f"{cfg.dataset.name} holds real vectors (a Gaussian likelihood): drop model.likelihood.name")
    positive_int(cfg, "model.k")
    optimizer(cfg, "model.opt")
    if not is_number(m.beta) or m.beta < 0:
        raise ConfigError(f"model.beta={m.beta!r} must be a number >= 0 (1: the VAE's ELBO)")
    if cfg.loss.get("_target_", "").endswith(".IWAE") and m.beta != 1:
        raise ConfigError(f"model.beta={m.beta} weighs the rate in the ELBO; loss=iwae has no beta: use loss=elbo "
                          "(model=beta_vae) or model.beta=1")
    if m.likelihood.name not in LIKELIHOODS:
        raise ConfigError(f"model.likelihood.name={m.likelihood.name!r}: choose one of {', '.join(LIKELIHOODS)}")
    sigma = m.likelihood.get("sigma")
    if sigma is not None and (not is_number(sigma) or sigma <= 0):
        raise ConfigError(f"model.likelihood.sigma={sigma!r} must be a positive number, or null (learned)")
    if m.nets.arch not in VAE_ARCHS:
        raise ConfigError(f"model.nets.arch={m.nets.arch!r}: choose one of {', '.join(VAE_ARCHS)}")
    schedule = m.get("lr_schedule")
    if schedule is not None:
        milestones, gamma = schedule.get("milestones"), schedule.get("gamma")
        if (not milestones or not all(isinstance(v, int) and v > 0 for v in milestones)
                or list(milestones) != sorted(set(milestones))):
            raise ConfigError(f"model.lr_schedule.milestones={milestones!r} must be increasing generator steps > 0")
        if not is_number(gamma) or not 0 < gamma <= 1:
            raise ConfigError(f"model.lr_schedule.gamma={gamma!r} must be in (0, 1]")
    for name in ("elbo", "nll"):
        for key in ("n", "k", "rows", "batch_size"):
            if OmegaConf.select(cfg, f"metrics.{name}.{key}") is not None:
                positive_int(cfg, f"metrics.{name}.{key}")
