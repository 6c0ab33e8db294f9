"""Mixed batches and a symmetric discriminator: BGAN and M-BGAN (Lucas, Tallec, Verbeek & Ollivier, "Mixed
batches and symmetric discriminators for GAN training", ICML 2018, arXiv 1806.07185).

D no longer scores samples one at a time: it sees one batch mixing real and generated samples in a random
proportion and predicts the proportion of real ones, so it can judge the batch's statistics (a generator that
drops modes gives batches whose spread differs from the data's) rather than each sample alone.

Mixed batch ("batch smoothing"). Per step: p ~ U[0, 1]; each of the n positions takes the step's real
sample with probability p, else the generated one (so the count of real samples, k, is uniform on 0..n):
    B = (b_1..b_n),  b_i = x_i if u_i < p else G(z_i),  u_i ~ U[0, 1].
D is trained on the cross-entropy between its prediction and p,
    l(q, p) = -p log q - (1 - p) log(1 - q).
Because l is linear in its target and B depends on p only through k, E[l(D(B), p)] = E[l(D(B), (k+1)/(n+2))]:
predicting p is predicting the proportion k/n smoothed by the uniform prior, much as label smoothing does (for
n = 1 the targets are 2/3 for a real sample and 1/3 for a fake one).

Symmetric discriminator. Every layer of an ordinary D also sees a permutation-invariant statistic of
the batch, rho = the batch mean of that layer's activations, so the network builds batch statistics of growing
complexity. Here: after every stage of the family's body (each activation of mlp and dcgan, each residual
block of resnet32) h_i <- h_i + Gamma(mean_j h_j), Gamma a learned linear map (a 1x1 convolution on feature
maps). The family's final layer then gives one logit s_i per element: (s_i) is permutation-equivariant, and
any mean of it is invariant to the order of the batch. (Concatenating rho to the next layer's input would be
the other way to include it; the sum keeps the family's layer shapes and weights, and equals concatenation
followed by the next linear layer whenever that layer's own weight can express Gamma's part.)

The two places of averaging (what distinguishes BGAN from M-BGAN):
    BGAN   (`model.mixed.average=output`): D(B) = sigmoid(mean_i s_i); loss l(D(B), p). The mean of the logits
           is the final (linear) layer applied to the mean of the last features: averaging before the output.
    M-BGAN (`model.mixed.average=loss`):   loss mean_i l(sigmoid(s_i), p): every element's output is a
           prediction of p and the losses are averaged, an ensemble of predictors at no extra cost (the
           authors found it by swapping the two by mistake, and it scored best).
G's objective on a fresh mixed batch (its gradient flows through the generated elements):
    loss=ns (default):  l(D(B), 1 - p), the non-saturating swap of targets (p = 0 gives -log D(B), NS-GAN's);
    loss=minimax:       -l(D(B), p).
Other losses have no mixed-batch form here (D's objective is a cross-entropy on p): build raises a
ConfigError. Regularizers compose: `perturb` (instance noise) acts on the mixed batch; weight transforms
(sn, clip) cover Gamma too; G penalties are unchanged; D penalties (gp, gp0, r1, r2, dragan) run on the
batches they build themselves (interpolates, the real batch), where D's per-element logits are coupled across
the batch, so they penalize that batch-coupled gradient field (as with reg=minibatch_disc).

Provenance: the mixed batches, the proportion target, batch smoothing, statistics at every layer and the swap of
averaging and loss are as the paper's abstract and published summaries state them; the paper's full text was not
at hand when this was written, so U[0, 1] for p, independent positions, the additive form of rho and G's
objectives are this implementation's reading, not checked line by line against it.

Logged besides losses: `mixed/p_error`, the mean |prediction - p| of D on its training batches (BGAN:
sigmoid(mean s); M-BGAN: mean sigmoid(s)): 0.25 for a D that cannot tell real from fake, near 0 for one that can.
"""

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
