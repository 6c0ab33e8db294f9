"""Tempered adversarial networks (Sajjadi et al., ICML 2018): a lens L(x) = x + r(x), starting as the identity,
between the real data and D. It minimizes lambda(t) x an adversarial term (`adversarial=flip`: D's loss with
the batches' roles swapped; `=negate`: -L_D) plus ||x - L(x)||^2, with lambda annealed from 1 to 0 over
`anneal_steps` generator steps, after which the lens is skipped. It trains once per generator step through the
narrow RegStep view of the GAN step, reusing the lens forward of that step's D update. The method, genbench's
choices and measurements: docs/gan-methods.md."""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from genbench.errors import ConfigError
from genbench.modules.base import grad_norm
from genbench.modules.optim import make_optimizer
from genbench.regs.base import RegStep, Regularizer

ADVERSARIAL = ("flip", "negate")
DEFAULT_WIDTH = {"image": 32, "vector": 64}


def lens_lambda(step: int, anneal_steps: int) -> float:
    """The paper's schedule: 1 - sin(pi t / 2K) for t < K, 0 from K on (K = 0: always 0)."""
    if step >= anneal_steps:
        return 0.0
    return 1.0 - math.sin(math.pi * step / (2 * anneal_steps))


def lens_objective(loss, d_lensed: torch.Tensor, d_fake: torch.Tensor, lensed: torch.Tensor, real: torch.Tensor,
                   lam: float, adversarial: str = "flip") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L_L, L_L^A, L_L^R) from D's logits on the lensed and the fake batch, the lensed and the real batch."""
    if adversarial == "flip":
        adv = loss.d_loss(d_fake, d_lensed)
    else:
        adv = -loss.d_loss(d_lensed, d_fake)
    rec = (lensed - real).flatten(1).pow(2).sum(1).mean()
    return lam * adv + rec, adv, rec


class _Residual(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def build_lens(shape: tuple[int, ...], width: int | None = None, blocks: int = 1) -> nn.Module:
    """x -> x + r(x), with r's output layer zero: the identity at initialization. Images: r works at half the
    resolution (a 4x4 stride-2 convolution in, 3x3 residual blocks, a 4x4 stride-2 transposed convolution out);
    vectors: linear layers."""
    if len(shape) == 3:
        if shape[1] % 2 or shape[2] % 2:
            raise ConfigError(f"reg=lens needs even image sizes (it works at half resolution); got {tuple(shape)}")
        w, c = width or DEFAULT_WIDTH["image"], shape[0]
        first, out = nn.Conv2d(c, w, 4, 2, 1), nn.ConvTranspose2d(w, c, 4, 2, 1)

        def layer(a, b):
            return nn.Conv2d(a, b, 3, padding=1)
    else:
        w, c = width or DEFAULT_WIDTH["vector"], math.prod(shape)
        layer = nn.Linear
        first, out = layer(c, w), layer(w, c)
    nn.init.zeros_(out.weight)
    nn.init.zeros_(out.bias)
    body = [first, nn.ReLU()]
    body += [_Residual(nn.Sequential(layer(w, w), nn.ReLU(), layer(w, w))) for _ in range(blocks)]
    body += [nn.ReLU(), out]
    return _Residual(nn.Sequential(*body))


class Lens(Regularizer, nn.Module):
    """reg=lens: the lens network, its view of the real data and its own training step."""

    name = "lens"

    def __init__(self, anneal_steps: int, adversarial: str = "flip", width: int | None = None, blocks: int = 1,
                 opt: dict | DictConfig | None = None):
        nn.Module.__init__(self)
        if isinstance(anneal_steps, bool) or not isinstance(anneal_steps, int) or anneal_steps < 0:
            raise ConfigError(f"reg.lens.anneal_steps={anneal_steps!r} must be a whole number >= 0 (generator steps "
                              "over which lambda falls from 1 to 0; 0 turns the lens off)")
        if adversarial not in ADVERSARIAL:
            raise ConfigError(f"reg.lens.adversarial={adversarial!r}: choose flip (D's loss with the batches' roles "
                              "swapped, non-saturating) or negate (minus D's loss, the paper's literal term)")
        if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width < 1):
            raise ConfigError(f"reg.lens.width={width!r} must be a whole number >= 1, or null for the default")
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
            raise ConfigError(f"reg.lens.blocks={blocks!r} must be a whole number >= 0")
        if opt is None:
            raise ConfigError("reg.lens.opt is not set: give the lens an optimizer, e.g. reg.lens.opt=${model.opt_g}")
        self.opt_cfg = OmegaConf.to_container(opt, resolve=True) if isinstance(opt, DictConfig) else dict(opt)
        self.anneal_steps, self.adversarial, self.width, self.blocks = anneal_steps, adversarial, width, blocks
        self.net: nn.Module | None = None
        self._lensed: tuple[torch.Tensor, torch.Tensor] | None = None  # (x, L(x) with its graph) from D's step

    def setup(self, shape: tuple[int, ...]) -> None:
        self.net = build_lens(shape, self.width, self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def strength(self, step: int) -> float:
        return lens_lambda(step, self.anneal_steps)

    def real_view(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """L(x) for D, detached; the lens' own step after G reuses this forward (same batch, same weights)."""
        if step >= self.anneal_steps:
            return x
        lensed = self(x)
        self._lensed = (x, lensed)
        return lensed.detach()

    def _lens_of(self, real: torch.Tensor) -> torch.Tensor:
        cached, self._lensed = self._lensed, None
        if cached is not None and cached[0] is real and cached[1].requires_grad:
            return cached[1]
        return self(real)

    def configure_optimizer(self) -> torch.optim.Optimizer:
        return make_optimizer(self.opt_cfg, self.parameters())

    def train_step(self, step: RegStep, real: torch.Tensor, optimizer, will_log: bool) -> None:
        lam = self.strength(step.g_step)
        step.track("reg/lens/lambda", torch.tensor(lam))
        if step.g_step >= self.anneal_steps:
            step.track("reg/lens/distortion", torch.zeros(()))
            return
        step.discriminator.requires_grad_(False)
        lensed = self._lens_of(real)
        total, adv, rec = lens_objective(step.loss, step.discriminate(lensed), step.fake_logits, lensed, real, lam,
                                         self.adversarial)
        optimizer.zero_grad(set_to_none=True)
        step.backward(total)
        step.discriminator.requires_grad_(True)
        if will_log:
            step.track("grad_norm/lens", grad_norm(self))
        optimizer.step()
        step.track("reg/lens/adv", adv)
        step.track("reg/lens/rec", rec)
        step.track("reg/lens/distortion", (lensed - real).detach().flatten(1).norm(dim=1).mean())
