"""Optimizers by name, so a model YAML says `opt_d: {name: adam, lr: 1e-4, betas: [0, 0.9]}`."""

from __future__ import annotations

import torch


def make_optimizer(cfg, params) -> torch.optim.Optimizer:
    name, lr = cfg["name"], float(cfg["lr"])
    weight_decay = float(cfg.get("weight_decay") or 0.0)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg["betas"]), eps=float(cfg.get("eps") or 1e-8),
                                weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=float(cfg.get("alpha") or 0.99), weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(cfg.get("momentum") or 0.0), weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")
