"""Optimizers by name, so a model YAML says `opt_d: {name: adam, lr: 1e-4, betas: [0, 0.9]}`.

Adam takes its fused CUDA kernel (one launch for every parameter's update, instead of several per tensor) when
all the parameters it is given live on CUDA and this torch's Adam has the `fused` option; on a CPU, or with
parameters on mixed devices, it keeps torch's default (the multi-tensor `foreach` path where available).
`adam_implementation` is the decision alone, so it can be tested without a GPU.
"""

from __future__ import annotations

import inspect

import torch


def adam_supports_fused() -> bool:
    """True when this torch's Adam has the `fused` argument (torch >= 2.0)."""
    return "fused" in inspect.signature(torch.optim.Adam).parameters


def adam_implementation(params: list[torch.Tensor]) -> dict:
    """Extra Adam keyword arguments for these parameters: {"fused": True} when every one is on CUDA (and the
    option exists), else {} (torch's default; the CPU path is unchanged)."""
    if params and all(p.device.type == "cuda" for p in params) and adam_supports_fused():
        return {"fused": True}
    return {}


def make_optimizer(cfg, params) -> torch.optim.Optimizer:
    name, lr = cfg["name"], float(cfg["lr"])
    weight_decay = float(cfg.get("weight_decay") or 0.0)
    if name == "adam":
        params = list(params)
        tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg["betas"]), eps=float(cfg.get("eps") or 1e-8),
                                weight_decay=weight_decay, **adam_implementation(tensors))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=float(cfg.get("alpha") or 0.99), weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(cfg.get("momentum") or 0.0), weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")
