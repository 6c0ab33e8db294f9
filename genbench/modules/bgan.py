"""Mixed batches and a symmetric discriminator: BGAN and M-BGAN (Lucas, Tallec, Verbeek & Ollivier, ICML 2018).
D sees one batch mixing real and generated samples in a random proportion p and predicts p (a cross-entropy on
p); every stage of the family's body adds a learned map of the batch mean of its activations (the symmetric D).
`model.mixed.average=output` (BGAN) averages the logits before the sigmoid, `=loss` (M-BGAN) averages each
element's loss. The method, the choices genbench made and measured runs: docs/gan-methods.md."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from genbench.errors import ConfigError
from genbench.losses.minimax import MinimaxLoss
from genbench.losses.ns import NonSaturatingLoss
from genbench.modules.gan import GANModule
from genbench.parallel import distributed

AVERAGES = ("output", "loss")
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU)
_LAYERS = (nn.Linear, nn.Conv2d)


class BatchStats(nn.Module):
    """h_i <- h_i + Gamma(mean_j h_j): a per-element input plus a learned map of the batch mean (rho)."""

    def __init__(self, channels: int, spatial: bool):
        super().__init__()
        self.gamma = nn.Conv2d(channels, channels, 1, bias=False) if spatial else nn.Linear(channels, channels,
                                                                                               bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.gamma(h.mean(0, keepdim=True))


def _stages(discriminator: nn.Module) -> list[tuple[nn.Sequential, int]]:
    """(container, index) of every stage of D's body: an activation, or a block holding layers, that is a child
    of an nn.Sequential. Single layers (D's final one among them) are not stages."""
    found = []
    for module in discriminator.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i, child in enumerate(module):
            is_block = not isinstance(child, (*_LAYERS, nn.Sequential)) and any(
                isinstance(m, _LAYERS) for m in child.modules())
            if isinstance(child, _ACTIVATIONS) or is_block:
                found.append((module, i))
    return found


def make_symmetric(discriminator: nn.Module, shape: tuple[int, ...]) -> int:
    """Put a BatchStats after every stage of D's body, in place (state-dict keys of the family's layers move one
    level down: `net.1` becomes `net.1.0`). Returns the number of stages."""
    stages = _stages(discriminator)
    if not stages:
        raise ConfigError(f"model.module=bgan needs a discriminator with layers to share batch statistics between "
                          f"(mlp, dcgan, resnet32); {type(discriminator).__name__} has none")
    sizes: dict[int, tuple[int, bool]] = {}
    hooks = [container[i].register_forward_hook(
        lambda _m, _in, out, key=n: sizes.__setitem__(key, (out.shape[1], out.dim() == 4)))
        for n, (container, i) in enumerate(stages)]
    was_training = discriminator.training
    with torch.no_grad():
        discriminator.eval()(torch.zeros(2, *shape))  # eval: batch norms keep their running statistics
    discriminator.train(was_training)
    for hook in hooks:
        hook.remove()
    for n, (container, i) in enumerate(stages):
        container[i] = nn.Sequential(container[i], BatchStats(*sizes[n]))
    return len(stages)


def mixed_batch(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, p): p ~ U[0, 1], and position i holds real[i] with probability p, else fake[i]."""
    p = torch.rand((), device=real.device)
    take_real = distributed.local_rows(lambda n: torch.rand(n, device=real.device), len(real)) < p
    return torch.where(take_real.view(-1, *[1] * (real.dim() - 1)), real, fake), p


def proportion_loss(logits: torch.Tensor, target: torch.Tensor, average: str) -> torch.Tensor:
    """The cross-entropy of D's prediction of `target` from its per-element logits: `output` (BGAN) averages the
    logits into one prediction, then takes the loss; `loss` (M-BGAN) takes each element's loss, then averages."""
    if average == "output":
        return F.binary_cross_entropy_with_logits(logits.mean(), target)
    return F.binary_cross_entropy_with_logits(logits, target.expand_as(logits))


def predicted_proportion(logits: torch.Tensor, average: str) -> torch.Tensor:
    """D's prediction of p: sigmoid of the mean logit (BGAN), the mean of the element predictions (M-BGAN)."""
    return logits.mean().sigmoid() if average == "output" else logits.sigmoid().mean()


class MixedBatchGAN(GANModule):
    """GANModule whose D objective is the mixed-batch proportion loss and whose G objective its swap; the rest
    (steps, n_critic, update schemes, regularizers, EMA, statistics, checkpoints) is GANModule's."""

    def __init__(self, *args, average: str = "output", **kwargs):
        super().__init__(*args, **kwargs)
        if average not in AVERAGES:
            raise ConfigError(f"model.mixed.average={average!r}: choose output (BGAN: average the outputs, then "
                              "the loss) or loss (M-BGAN: the loss of every output, then the average)")
        if not isinstance(self.loss, MinimaxLoss):
            raise ConfigError(f"model.module=bgan trains D with a cross-entropy on the proportion of real samples; "
                              f"use loss=ns or loss=minimax, not {type(self.loss).__name__}")
        if self.reg_nets:
            raise ConfigError(f"reg={','.join(self.reg_nets)} does not compose with model.module=bgan: its network "
                              "trains against D's per-sample loss, which a mixed-batch D does not have; drop it or "
                              "use model=gan")
        self.average = average
        self.nonsaturating = isinstance(self.loss, NonSaturatingLoss)

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        batch, p = mixed_batch(real, fake)
        logits = self.discriminator(self._perturb(batch))
        self._track("mixed/p_error", (predicted_proportion(logits.detach(), self.average) - p).abs())
        return proportion_loss(logits, p, self.average)

    def g_objective(self, fake: torch.Tensor, real: torch.Tensor | None = None,
                    z: torch.Tensor | None = None) -> torch.Tensor:
        if real is None:
            raise ValueError("a mixed-batch generator objective needs the step's real batch")
        batch, p = mixed_batch(real, fake)
        logits = self.discriminator(self._perturb(batch))
        if self.nonsaturating:
            return proportion_loss(logits, 1 - p, self.average)
        return -proportion_loss(logits, p, self.average)


def build(cfg, shape: tuple[int, ...]) -> MixedBatchGAN:
    """GANModule's networks, loss and regularizers, with D made symmetric (before the regularizers wrap it, so
    that sn normalizes Gamma too) and the mixed-batch objectives."""
    from genbench.modules.gan import build_parts

    (generator, discriminator, loss, regs), kwargs = build_parts(cfg, shape)
    make_symmetric(discriminator, shape)
    return MixedBatchGAN(generator, discriminator, loss, regs, z_dim=cfg.model.z_dim, **kwargs,
                         average=cfg.model.mixed.average)
