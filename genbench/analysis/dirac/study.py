"""Analysis of the Dirac-GAN (Mescheder et al. 2018) through a GANModule's own objectives.

State: w = (theta, psi), G(z) = theta, D(x) = psi * x, data a Dirac at 0, equilibrium (0, 0).

Sign convention: the gradient vector field is the direction plain gradient descent moves the parameters,
    v(theta, psi) = -(dL_G/dtheta, dL_D/dpsi),
L_G = GANModule.g_objective, L_D = GANModule.d_objective (loss + penalties), plus each player's part of
the gradient of a joint penalty (consensus). A step of size h is w <- w + h v(w) (simultaneous updates).
theta and psi are the paper's (genbench/nets/dirac.py), so v is the paper's field: for the GAN
v = (-psi f'(psi theta), theta f'(psi theta)), f(t) = -log(1 + exp(-t)). With R1 weight gamma and
f0 = f'(0) = 1/2 the Jacobian at (0, 0) is [[0, -f0], [f0, -gamma]], eigenvalues
-gamma/2 +- sqrt(gamma^2/4 - f0^2); an equilibrium is locally attracting when every real part is < 0.

`field` evaluates exactly the gradients a simultaneous training step applies (GANModule.game_gradients)
at any point, by substituting (theta, psi) for the module's two parameters (torch.func.functional_call),
so `jacobian` differentiates the training code itself (torch.autograd.functional.jacobian, float64).
Instance noise makes the trained field a random estimate of an expectation over the noise; `field` uses
the expectation: the N_NOISE noise draws of a batch are replaced by the means of eps over N_NOISE strata of
equal probability (stratified quadrature), which integrate E[f(sigma * eps)] to ~1e-9 for the smooth
losses here (tests/test_dirac.py checks against Gauss-Hermite quadrature).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

N_NOISE = 20001


class _Game(nn.Module):
    """Wraps a GANModule so functional_call can substitute its parameters and call game_gradients."""

    def __init__(self, gan):
        super().__init__()
        self.gan = gan

    def forward(self, real: torch.Tensor, z: torch.Tensor, create_graph: bool):
        return self.gan.game_gradients(real, z, create_graph=create_graph)


def parameter_names(gan) -> tuple[str, str]:
    """The names of the generator's and the discriminator's single scalar parameter."""
    named = dict(gan.named_parameters())
    g = [n for n in named if n.startswith("generator.")]
    d = [n for n in named if n.startswith("discriminator.")]
    if len(g) != 1 or len(d) != 1 or named[g[0]].numel() != 1 or named[d[0]].numel() != 1:
        raise ValueError("the Dirac-GAN analysis needs one scalar parameter per player (model=dirac_gan)")
    return g[0], d[0]


def state(gan) -> tuple[float, float]:
    """The current (theta, psi)."""
    g, d = parameter_names(gan)
    named = dict(gan.named_parameters())
    return float(named[g].detach()), float(named[d].detach())


def _noisy(gan) -> bool:
    return any(hasattr(reg, "current_std") for reg in gan.regs)


@contextlib.contextmanager
def expected_noise(gan):
    """Within: every instance-noise regularizer adds the stratum means of a standard normal (one per row of
    the batch it perturbs) instead of random draws, so a batch of N_NOISE rows gives the expected field."""
    patched = [reg for reg in gan.regs if hasattr(reg, "current_std")]

    def quantile_perturb(reg):
        def perturb(x, step):
            n = x.shape[0]
            edges = torch.special.ndtri(torch.linspace(0, 1, n + 1, dtype=torch.float64))
            density = torch.exp(-0.5 * edges.pow(2)) / (2 * torch.pi) ** 0.5  # 0 at the infinite ends
            q = (density[:-1] - density[1:]) * n  # the mean of eps within each of n equal-probability strata
            return x + reg.current_std(step) * q.to(x).reshape(n, *([1] * (x.dim() - 1)))
        return perturb

    for reg in patched:
        reg.perturb = quantile_perturb(reg)
    try:
        yield
    finally:
        for reg in patched:
            del reg.perturb


def field(gan, point: torch.Tensor, create_graph: bool = False, n: int | None = None) -> torch.Tensor:
    """v(theta, psi) = -(grad of G's objective w.r.t. theta, grad of D's objective w.r.t. psi), as trained
    (GANModule.game_gradients), at `point` = (theta, psi); an expectation for instance noise."""
    g_name, d_name = parameter_names(gan)
    n = n or (N_NOISE if _noisy(gan) else 1)
    if not point.requires_grad:  # the substituted parameters must be differentiable, as the real ones are
        point = point.detach().requires_grad_(True)
    real = torch.zeros(n, 1, dtype=point.dtype)
    z = torch.zeros(n, gan.z_dim, dtype=point.dtype)
    params = {f"gan.{g_name}": point[0:1], f"gan.{d_name}": point[1:2]}
    with expected_noise(gan):
        grads_d, grads_g, _ = torch.func.functional_call(_Game(gan), params, (real, z, create_graph))
    return -torch.cat([grads_g[0].reshape(1), grads_d[0].reshape(1)])


def jacobian(gan, point=(0.0, 0.0)) -> torch.Tensor:
    """d v / d (theta, psi) at `point` (float64), by autograd through the module's objectives."""
    x = torch.tensor(point, dtype=torch.float64)
    return torch.autograd.functional.jacobian(lambda w: field(gan, w, create_graph=True), x)


def eigenvalues(gan, point=(0.0, 0.0)) -> list[complex]:
    """The Jacobian's eigenvalues at `point`, the one with the larger imaginary (then real) part first."""
    jac = jacobian(gan, point)
    if not bool(torch.isfinite(jac).all()):  # the field is not differentiable there (WGAN-GP's |psi| at 0)
        return [complex(float("nan"), float("nan"))] * 2
    values = torch.linalg.eigvals(jac).tolist()
    return sorted(values, key=lambda c: (-c.imag, -c.real))


PORTRAIT_NOISE = 2001  # strata per arrow of a portrait: arrows show directions, 10x cheaper than N_NOISE


def field_grid(gan, extent: float = 2.0, n: int = 21):
    """(T, P, U, V): the field on an n x n grid over [-extent, extent]^2 (numpy arrays); for instance noise
    the expectation over PORTRAIT_NOISE strata."""
    import numpy as np

    ticks = np.linspace(-extent, extent, n)
    T, P = np.meshgrid(ticks, ticks)
    U, V = np.zeros_like(T), np.zeros_like(T)
    for i in range(n):
        for j in range(n):
            point = torch.tensor([T[i, j], P[i, j]], dtype=torch.float64)
            v = field(gan, point, n=PORTRAIT_NOISE if _noisy(gan) else None).detach()
            U[i, j], V[i, j] = float(v[0]), float(v[1])
    return T, P, U, V
