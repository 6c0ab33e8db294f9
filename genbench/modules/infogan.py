"""InfoGAN (Chen et al. 2016): the GAN game plus a variational lower bound on the mutual information between
latent codes c (categorical: one-hot; continuous: Uniform(-1, 1)) and the samples, so that each code comes to
control one factor. Q reads D's body (one pass serves D and Q) and gives a softmax per categorical code and a
Gaussian per continuous one (fixed std 1 unless `model.codes.learn_std`); G and Q minimize
lambda_categorical CE + lambda_continuous NLL. The method, genbench's choices and measured runs:
docs/gan-methods.md."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genbench.callbacks.samples import Traversal
from genbench.errors import ConfigError
from genbench.modules.gan import GANModule, build_parts
from genbench.nets.layers import SplitDiscriminator


class LatentCodes:
    """The code part of G's input: one-hot blocks for the categorical codes, then the continuous codes."""

    def __init__(self, categorical: list[int], continuous: int, learn_std: bool = False):
        self.categorical, self.continuous, self.learn_std = [int(k) for k in categorical], int(continuous), learn_std
        self.width = sum(self.categorical) + self.continuous
        # Q's outputs: logits per categorical code, then the means (and log sigmas) of the continuous ones
        self.q_width = sum(self.categorical) + self.continuous * (2 if learn_std else 1)
        # H(c) in nats: log K per categorical code, log 2 per Uniform(-1, 1) code (differential entropy)
        self.entropy = sum(math.log(k) for k in self.categorical) + self.continuous * math.log(2.0)

    @property
    def names(self) -> list[str]:
        """c1, c2, ... in latent order (the paper's MNIST names: c1 the digit, c2 and c3 continuous)."""
        return [f"c{i + 1}" for i in range(len(self.categorical) + self.continuous)]

    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        parts = []
        for k in self.categorical:
            index = torch.randint(k, (n,), generator=generator, device=device)
            parts.append(F.one_hot(index, k).float())
        if self.continuous:
            parts.append(torch.rand(n, self.continuous, generator=generator, device=device) * 2 - 1)
        return torch.cat(parts, 1)

    def split(self, t: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(blocks per categorical code, the rest) of a code vector or of Q's output."""
        blocks = list(t.split([*self.categorical, t.shape[1] - sum(self.categorical)], dim=1))
        return blocks[:-1], blocks[-1]

    def cross_entropy(self, q: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-E[log Q(c | x)] for the categorical codes and for the continuous ones (sums over codes, means over
        the batch): the two parts of -L_I + H(c). `q` is Q's raw output, `codes` the code part of z."""
        q_cat, q_cont = self.split(q)
        c_cat, c_cont = self.split(codes)
        ce = sum((F.cross_entropy(logits, c.argmax(1)) for logits, c in zip(q_cat, c_cat, strict=True)),
                 q.new_zeros(()))
        nll = q.new_zeros(())
        if self.continuous:
            mean = q_cont[:, :self.continuous]
            log_std = q_cont[:, self.continuous:] if self.learn_std else torch.zeros_like(mean)
            nll = gaussian_nll(c_cont, mean, log_std).sum(1).mean()
        return ce, nll

    def accuracy(self, q: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Fraction of the categorical codes Q's most likely value recovers (mean over codes)."""
        q_cat, _ = self.split(q)
        c_cat, _ = self.split(codes)
        hits = [(logits.argmax(1) == c.argmax(1)).float().mean() for logits, c in zip(q_cat, c_cat, strict=True)]
        return torch.stack(hits).mean()


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """-log N(x; mean, exp(log_std)^2), elementwise."""
    return log_std + 0.5 * ((x - mean) * torch.exp(-log_std)) ** 2 + 0.5 * math.log(2 * math.pi)


class QHead(nn.Sequential):
    """Q's own layers on D's (N, A) features: FC hidden, batch norm, LeakyReLU(0.2), FC to Q's parameters."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 128):
        super().__init__(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, out_features))


class InfoGANModule(GANModule):
    """GANModule whose latent is noise z followed by codes c, with Q's mutual-information term in both players'
    objectives. `z_dim` (the GANModule's) is the width of G's whole input: noise_dim + codes.width."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, loss, regs: list, *, noise_dim: int,
                 codes: LatentCodes, lambda_categorical: float = 1.0, lambda_continuous: float = 1.0,
                 q_hidden: int = 128, traversal_range: float = 2.0, traversal_steps: int = 9, **kwargs):
        super().__init__(generator, discriminator, loss, regs, z_dim=noise_dim + codes.width, **kwargs)
        if not isinstance(self.discriminator, SplitDiscriminator):
            raise ConfigError(f"model=infogan needs a discriminator split into a body and a final layer (mlp, "
                              f"dcgan, resnet32) for Q to share; {type(self.discriminator).__name__} is not")
        self.noise_dim, self.codes = noise_dim, codes
        self.lambda_categorical, self.lambda_continuous = float(lambda_categorical), float(lambda_continuous)
        self.traversal_range, self.traversal_steps = float(traversal_range), int(traversal_steps)
        # Q is part of D's network: D's optimizer, D's checkpoint entries, frozen with D during G's step
        self.discriminator.q_head = QHead(self.discriminator.feature_dim, codes.q_width, q_hidden)
        self._g_info: tuple[torch.Tensor, torch.Tensor] | None = None

    # ----------------------------------------------------------------- latent
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = self.device if generator is None else generator.device
        z = torch.randn(n, self.noise_dim, generator=generator, device=device)
        return torch.cat([z, self.codes.sample(n, generator, device)], 1)

    def code_part(self, z: torch.Tensor) -> torch.Tensor:
        return z[:, self.noise_dim:]

    # ----------------------------------------------------------------- Q and the objectives
    def info_loss(self, q: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(lambda-weighted -E[log Q(c | x)], the bound L_I in nats) for Q's output on G(z)."""
        ce, nll = self.codes.cross_entropy(q, self.code_part(z))
        weighted = self.lambda_categorical * ce + self.lambda_continuous * nll
        return weighted, self.codes.entropy - (ce + nll).detach()

    def d_objective(self, real, fake, z=None):
        if z is None:
            return super().d_objective(real, fake)
        real = self.real_view(real)
        d_real = self.discriminator(self._perturb(real))
        h = self.discriminator.features(self._perturb(fake))  # one body pass for D's logits and for Q
        loss, total, penalties = self.with_d_penalties(self.loss.d_loss(d_real, self.discriminator.logits(h)),
                                                       real, fake)
        q = self.discriminator.q_head(h)
        info, bound = self.info_loss(q, z)
        self._track("info/mi", bound)
        if self.codes.categorical:
            self._track("info/q_accuracy", self.codes.accuracy(q.detach(), self.code_part(z)))
        return loss, total + info, {**penalties, "info_d": info}

    def g_objective(self, fake, real=None, z=None):
        if z is None:
            return super().g_objective(fake, real)
        h = self.discriminator.features(self._perturb(fake))
        self._g_info = (fake, self.info_loss(self.discriminator.q_head(h), z)[0])  # for g_penalties, same pass
        logits = self.discriminator.logits(h)
        self.fake_logits = logits.detach()  # for reg=lens, as GANModule.g_objective keeps them
        return self.loss.g_loss(logits)

    def g_penalties(self, z, fake):
        penalties = super().g_penalties(z, fake)
        memo, self._g_info = self._g_info, None
        if memo is not None and memo[0] is fake:
            info = memo[1]
        else:
            info = self.info_loss(self.discriminator.q_head(self.discriminator.features(self._perturb(fake))), z)[0]
        return {**penalties, "info_g": info}

    @property
    def g_penalty_names(self) -> list[str]:
        return [*super().g_penalty_names, "info_g"]

    @torch.no_grad()
    def recognize(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Q's raw output on samples x (model space), D's body and Q in eval mode (batch norm on running stats)."""
        net = self.discriminator
        was_training = net.training
        net.eval()
        out = torch.cat([net.q_head(net.features(chunk.to(self.device))) for chunk in x.split(batch_size)])
        net.train(was_training)
        return out

    # ----------------------------------------------------------------- pictures
    def traversals(self, rows: int, generator: torch.Generator) -> list[Traversal]:
        """One Traversal per code: `rows` draws of (z, other codes), each code's value swept along the columns
        (every category; continuous codes over linspace(-range, range, steps), beyond the training range
        [-1, 1] as in the paper's figures)."""
        base = self.noise(rows, generator)
        out = []
        sweeps = [list(range(k)) for k in self.codes.categorical]
        sweeps += [torch.linspace(-self.traversal_range, self.traversal_range, self.traversal_steps).tolist()
                   for _ in range(self.codes.continuous)]
        starts = [self.noise_dim + sum(self.codes.categorical[:i]) for i in range(len(self.codes.categorical))]
        starts += [self.noise_dim + sum(self.codes.categorical) + j for j in range(self.codes.continuous)]
        for i, (name, values, start) in enumerate(zip(self.codes.names, sweeps, starts, strict=True)):
            z = base.repeat_interleave(len(values), dim=0)
            column = torch.arange(len(z)) % len(values)
            if i < len(self.codes.categorical):
                z[:, start:start + len(values)] = F.one_hot(column, len(values)).to(z)
            else:
                z[:, start] = torch.tensor(values, dtype=z.dtype)[column]
            out.append(Traversal(name, values, z))
        return out


def build(cfg, shape: tuple[int, ...]) -> InfoGANModule:
    """The InfoGANModule of a composed config: the GAN's pieces (genbench.modules.gan.build_parts) plus
    `model.codes`."""
    codes_cfg = cfg.model.codes  # checked by genbench.runs.config_checks before anything is built
    categorical, continuous = list(codes_cfg.categorical or []), int(codes_cfg.continuous or 0)
    codes = LatentCodes(categorical, continuous, learn_std=bool(codes_cfg.get("learn_std", False)))
    noise_dim = cfg.model.z_dim
    args, kwargs = build_parts(cfg, shape, latent_dim=noise_dim + codes.width)
    return InfoGANModule(*args, noise_dim=noise_dim, codes=codes,
                         lambda_categorical=codes_cfg.lambda_categorical,
                         lambda_continuous=codes_cfg.lambda_continuous,
                         q_hidden=codes_cfg.q_hidden,
                         traversal_range=codes_cfg.traversal_range,
                         traversal_steps=codes_cfg.traversal_steps, **kwargs)
