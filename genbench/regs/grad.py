"""Input gradients of the discriminator, the quantity every gradient penalty is built on."""

from __future__ import annotations

import torch
from torch import nn

from genbench.parallel import distributed


def input_grads(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """grad_x D(x) per sample, flattened to (N, -1), differentiable (create_graph) so a penalty trains D."""
    x = x.detach().requires_grad_(True)
    out = discriminator(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1)


def input_grad_norms(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """||grad_x D(x)|| per sample, differentiable (create_graph) so the penalty trains D."""
    return input_grads(discriminator, x).norm(2, dim=1)


def input_grad_sq_norms(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """||grad_x D(x)||^2 per sample, without the square root: twice differentiable at a zero gradient
    (the zero-centred penalties' equilibrium), where the norm's second derivative is 0/0."""
    return input_grads(discriminator, x).pow(2).sum(1)


def interpolate(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """x_hat = eps * x + (1 - eps) * x_fake with eps ~ U[0, 1] per sample (WGAN-GP)."""
    eps = distributed.rand_rows(real)
    return eps * real + (1 - eps) * fake
