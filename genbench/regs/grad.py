"""Input gradients of the discriminator, the quantity every gradient penalty is built on."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from genbench.parallel import distributed


def input_grads(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """grad_x D(x) per sample, flattened to (N, -1), differentiable (create_graph) so a penalty trains D.
    When `discriminator` is a SharedForward that holds D(x) already, that output is differentiated."""
    if not (isinstance(discriminator, SharedForward) and discriminator.holds(x)):
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


class SharedForward:
    """D, remembering its outputs on the step's batches during the loss's forward pass, so that a penalty on the
    input gradient at a batch (R1 at the real one, R2 at the fake one) takes grad_x of the same D(x) instead of
    running D again: one D forward less per step, as Mescheder et al.'s GAN_stability code does. Only batches that
    were grad-free (they become leaves that require grad, `.real`/`.fake`) and that D sees unchanged (no instance
    noise in between) are shared; any other input runs D as before. Called like D; other attributes are D's."""

    def __init__(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, sides: set[str]):
        self.discriminator = discriminator
        shared = {side: side in sides and not x.requires_grad for side, x in (("real", real), ("fake", fake))}
        self.real = real.detach().requires_grad_(True) if shared["real"] else real
        self.fake = fake.detach().requires_grad_(True) if shared["fake"] else fake
        self.inputs = [x for side, x in (("real", self.real), ("fake", self.fake)) if shared[side]]
        self.outputs: dict[int, torch.Tensor] = {}

    @contextlib.contextmanager
    def recording(self):
        """While D runs the loss's forward passes, keep its outputs on our inputs."""
        def record(_module, args, output) -> None:
            if args and any(args[0] is x for x in self.inputs):
                self.outputs[id(args[0])] = output

        hook = self.discriminator.register_forward_hook(record)
        try:
            yield self
        finally:
            hook.remove()

    def holds(self, x: torch.Tensor) -> bool:
        """Whether D's output on this very tensor was kept."""
        return id(x) in self.outputs and any(x is y for y in self.inputs)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.outputs[id(x)] if self.holds(x) else self.discriminator(x)

    def __getattr__(self, name: str):
        return getattr(self.discriminator, name)
