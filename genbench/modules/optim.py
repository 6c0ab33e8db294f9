"""Optimizers by name, so a model YAML says `opt_d: {name: adam, lr: 1e-4, betas: [0, 0.9]}`.

Which of torch's implementations runs the update (`implementation`, the decision alone, so it can be tested
without a GPU):
- Adam on CUDA: the fused kernel, one launch for every parameter's update instead of several per tensor, when
  every parameter lives on CUDA and this torch's Adam has the `fused` option;
- every optimizer on a CPU: the multi-tensor `foreach` path. torch's default there is a Python loop over the
  tensors; `foreach` gives the same bits (checked over 30-50 steps of Adam, RMSprop and SGD, with and without
  weight decay and momentum, on MLP and DCGAN shapes) and takes 13-15% less time per step on the ring8 MLP's
  8 tensors (2 cores: Adam 264 -> 229 us per optimizer step, about 70 us per GAN step; docs/speed.md). The
  fused CPU kernel is faster still (81 us) but rounds differently, so a run's numbers would change;
- parameters on mixed devices: torch's default.

This module owns the optimizer names and checks its own arguments (`check`); torch is imported only when an
optimizer is built, so a config error stays fast.
"""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING

from genbench.errors import ConfigError

if TYPE_CHECKING:
    import torch

OPTIMIZERS = ("adam", "rmsprop", "sgd")


def check(opt, key: str) -> None:
    """Raise ConfigError when the optimizer block at `key` (e.g. model.opt_d) cannot build an optimizer."""
    if opt.name not in OPTIMIZERS:
        raise ConfigError(f"{key}.name={opt.name!r} is not an optimizer; choose one of {', '.join(OPTIMIZERS)}")
    lr = opt.lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"{key}.lr={lr!r} must be a positive number (e.g. {key}.lr=2e-4)")
    betas = opt.get("betas")
    if opt.name == "adam":
        if betas is None or len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ConfigError(f"{key}.betas={betas!r} must be two numbers in [0, 1), e.g. [0.5,0.999]")


def adam_supports_fused() -> bool:
    """True when this torch's Adam has the `fused` argument (torch >= 2.0)."""
    import torch

    return "fused" in inspect.signature(torch.optim.Adam).parameters


def implementation(name: str, params: list[torch.Tensor]) -> dict:
    """Extra keyword arguments for optimizer `name` on these parameters: {"fused": True} for Adam when every one
    is on CUDA (and the option exists), {"foreach": True} when every one is on the CPU, else {} (torch's
    default)."""
    devices = {p.device.type for p in params}
    if devices == {"cuda"} and name == "adam" and adam_supports_fused():
        return {"fused": True}
    if devices == {"cpu"}:
        return {"foreach": True}
    return {}


def make_optimizer(cfg, params) -> torch.optim.Optimizer:
    import torch

    name, lr = cfg["name"], float(cfg["lr"])
    weight_decay = float(cfg.get("weight_decay") or 0.0)
    params = list(params)
    tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
    how = implementation(name, tensors)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg["betas"]), eps=float(cfg.get("eps") or 1e-8),
                                weight_decay=weight_decay, **how)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=float(cfg.get("alpha") or 0.99), weight_decay=weight_decay,
                                   **how)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(cfg.get("momentum") or 0.0), weight_decay=weight_decay,
                               **how)
    raise ValueError(f"unknown optimizer {name!r}")
