"""The small interface every regularizer implements a part of. The GANModule calls each hook at
its place in the step, for every active regularizer, in the order the config lists them.

A regularizer with a network of its own (reg=lens) also subclasses nn.Module: the GANModule registers it
(`reg_nets.<name>`, so its weights follow the device and live in checkpoints), calls `setup(shape)` once
at build time, steps the optimizer of `configure_optimizer()` in `train_step` after each generator step,
and its optimizer state is checkpointed with D's and G's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class Regularizer:
    """No-op defaults; a subclass overrides the hook(s) its method needs."""

    name = "reg"
    # batches ("real", "fake") whose input gradient d_penalty takes at D's own input: D's forward of the loss
    # there is reused (regs/grad.py, SharedForward) instead of a second one
    grad_at: tuple[str, ...] = ()

    def wrap_discriminator(self, discriminator: nn.Module) -> nn.Module:
        """Change D once, at build time (e.g. spectral normalization)."""
        return discriminator

    def setup(self, shape: tuple[int, ...]) -> None:
        """Called once at build time with the data shape ((2,) vectors, (C, H, W) images)."""

    def real_view(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """Transform the real batch before D sees it, in its loss and its penalties (e.g. the lens);
        fakes are untouched."""
        return x

    def perturb(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """Transform every D input, real and fake (e.g. instance noise); `step` counts G steps."""
        return x

    def d_penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                  step: int) -> torch.Tensor | None:
        """A term added to the discriminator loss (already multiplied by its weight)."""
        return None

    def g_penalty(self, generator: nn.Module, z: torch.Tensor, fake: torch.Tensor,
                  step: int) -> torch.Tensor | None:
        """A term added to the generator loss (already multiplied by its weight), e.g. Jacobian clamping.
        `fake` = generator(z), still carrying G's graph; the GANModule adds the term in every generator
        update (alternating and simultaneous) and logs it as reg/<name>."""
        return None

    def after_d_step(self, discriminator: nn.Module) -> None:
        """Called after each optimizer step of D (e.g. weight clipping)."""

    def joint_penalty(self, grads_d: list[torch.Tensor], grads_g: list[torch.Tensor],
                      step: int) -> torch.Tensor | None:
        """Optional: a term added to *both* players' objectives, computed from the joint gradient field
        (each player's gradient of its own objective w.r.t. its parameters, differentiable), e.g. consensus
        optimization. Overriding it makes every step compute both players' gradients at the current point."""
        return None

    def configure_optimizer(self) -> torch.optim.Optimizer | None:
        """nn.Module regularizers only: the optimizer of their own parameters."""
        return None

    def train_step(self, step: RegStep, real: torch.Tensor, optimizer, will_log: bool) -> None:
        """nn.Module regularizers only: their own update, after each generator step (before the generator step is
        counted), on the batch of that step; `optimizer` is `configure_optimizer()`'s, Lightning-wrapped; `step`
        is what they may use of the GAN's step."""


@dataclass(frozen=True)
class RegStep:
    """The narrow view of the GAN's step a regularizer with its own update gets (reg=lens), instead of the module:
    the generator step, D's loss, D as its loss sees an input (every `perturb` applied), D's logits on the step's
    fake batch, the backward pass (Lightning's, for precision and DDP) and the statistics logger."""

    g_step: int
    loss: object
    discriminator: nn.Module
    discriminate: Callable[[torch.Tensor], torch.Tensor]
    fake_logits: torch.Tensor
    backward: Callable[[torch.Tensor], None]
    track: Callable[[str, torch.Tensor], None]
