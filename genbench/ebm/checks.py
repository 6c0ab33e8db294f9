"""Config checks of the energy-based models (model=ebm, ebm_image), run by genbench.runs.config_checks before any
data is read; OmegaConf only, like the rest of the checks."""

from __future__ import annotations

from omegaconf import DictConfig

from genbench.errors import ConfigError
from genbench.runs.validate import is_number, optimizer, positive_int

EBM_INITS = ("data", "noise", "buffer")


def check_ebm(cfg: DictConfig) -> None:
    """model=ebm, ebm_image (genbench/modules/ebm.py)."""
    m = cfg.model
    if m.init not in EBM_INITS:
        raise ConfigError(f"model.init={m.init!r}: choose data (contrastive divergence), noise (short-run chains) "
                          "or buffer (persistent chains in a replay buffer)")
    positive_int(cfg, "model.langevin.steps")
    step, noise = m.langevin.step_size, m.langevin.get("noise")
    if not is_number(step) or step <= 0:
        raise ConfigError(f"model.langevin.step_size={step!r} must be a positive number, e.g. 0.01")
    if noise is not None and (not is_number(noise) or noise < 0):
        raise ConfigError(f"model.langevin.noise={noise!r} must be a number >= 0, or null for sqrt(2 step_size)")
    for key in ("alpha", "data_noise"):
        if not is_number(m[key]) or m[key] < 0:
            raise ConfigError(f"model.{key}={m[key]!r} must be a number >= 0")
    steps = m.sample.steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"model.sample.steps={steps!r} must be a whole number >= 0")
    if m.sample.start not in ("noise", "buffer"):
        raise ConfigError(f"model.sample.start={m.sample.start!r}: choose noise or buffer")
    if m.init == "buffer":
        positive_int(cfg, "model.buffer.size")
        reinit, batch = m.buffer.reinit, cfg.dataset.batch_size
        if not is_number(reinit) or not 0 <= reinit <= 1:
            raise ConfigError(f"model.buffer.reinit={reinit!r} must be a probability in [0, 1], e.g. 0.05")
        if isinstance(batch, int) and m.buffer.size < batch:
            raise ConfigError(f"model.buffer.size={m.buffer.size} holds fewer chains than a batch "
                              f"(dataset.batch_size={batch}): choose model.buffer.size>={batch}")
    elif m.sample.start == "buffer":
        raise ConfigError(f"model.sample.start=buffer reads the replay buffer, but model.init={m.init} keeps none: "
                          "use model.init=buffer or model.sample.start=noise")
    optimizer(cfg, "model.opt")
    world = int(cfg.hardware.devices) * int(cfg.hardware.get("num_nodes", 1) or 1)
    if world > 1:
        raise ConfigError(f"model={m.name} trains in one process (its replay buffer and chains are not shared "
                          f"between ranks): use hardware.devices=1 (asked: {world} ranks)")
