"""EBMModule: an energy-based model q(x) = exp(-E(x)) / Z trained with the log-likelihood gradient of the seed
(1.2.2, eq. 1.28): E pushed down on data and up on the ends of short Langevin chains (`model.init`: data,
noise or a replay buffer), loss = E(x+).mean() - E(x-).mean() (+ loss=cd's energy-magnitude penalty).

Why resume and evaluation are exact: every training draw comes from torch's global generator (saved in each
checkpoint by RandomState) and the replay buffer is a registered buffer; samples for evaluation come from a
generator seeded by `seed`, never the training stream. The recipes, options and measured runs: docs/ebm.md."""

from __future__ import annotations

import math

import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genbench.errors import ConfigError
from genbench.modules.base import GenerativeModule, grad_norm
from genbench.modules.optim import make_optimizer
from genbench.parallel import distributed

ACTIVATIONS = {"silu": nn.SiLU, "elu": nn.ELU, "softplus": nn.Softplus, "leaky_relu": lambda: nn.LeakyReLU(0.2)}


def langevin(energy, x: torch.Tensor, *, steps: int, step_size: float, noise: float | None = None,
             low: torch.Tensor | None = None, high: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """`steps` Langevin steps on `energy` from x: x <- x - step_size * dE/dx + noise * N(0, I), clamped to
    [low, high] when given. `noise=None` is sqrt(2 step_size), the discretized Langevin diffusion whose stationary
    law is exp(-E)/Z as step_size -> 0; a smaller noise (Du & Mordatch 2019) trades exactness for sharper
    samples. Returns the chain's end, detached; E's weights get no gradient from the chain."""
    noise = math.sqrt(2 * step_size) if noise is None else noise
    x = x.detach()
    with torch.enable_grad():
        for _ in range(steps):
            x.requires_grad_(True)
            grad, = torch.autograd.grad(energy(x).sum(), x)
            eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = (x - step_size * grad + noise * eps).detach()
            if low is not None:
                x = torch.maximum(torch.minimum(x, high), low)
    return x


class EnergyMLP(nn.Module):
    """E(x) for vectors: an MLP with a smooth activation (Langevin follows its input gradient)."""

    def __init__(self, dim: int, hidden: list[int], activation: str = "silu"):
        super().__init__()
        layers, width = [], dim
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class EnergyConv(nn.Module):
    """E(x) for (C, H, W) images: a 3x3 convolution, stride-2 4x4 convolutions doubling the channels down to
    <= 4x4 maps, then a linear layer (the short-run EBM's small conv net, Nijkamp et al. 2019)."""

    def __init__(self, shape: tuple[int, int, int], width: int = 32, activation: str = "silu"):
        super().__init__()
        channels, size, _ = shape
        layers, c = [nn.Conv2d(channels, width, 3, 1, 1), ACTIVATIONS[activation]()], width
        while size > 4:
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1), ACTIVATIONS[activation]()]
            c, size = 2 * c, size // 2
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * size * size, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def with_spectral_norm(net: nn.Module) -> nn.Module:
    """Every Linear and Conv2d of `net` spectrally normalized (Miyato et al. 2018): E is then Lipschitz, so its
    input gradients, the Langevin drift, stay bounded (Du & Mordatch 2019)."""
    for layer in list(net.modules()):
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            spectral_norm(layer)
    return net


class ChainSampler(nn.Module):
    """z (chain starts) -> chain ends: the `sampler` of the run machinery. Its Langevin noise comes from a
    generator seeded with `seed`, so a checkpoint always gives the same samples."""

    def __init__(self, owner: EBMModule):
        super().__init__()
        self.energy = owner.energy
        self._owner = [owner]  # not a submodule: the owner holds the replay buffer

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        owner = self._owner[0]
        if generator is None:
            generator = torch.Generator(device=z.device).manual_seed(owner.seed)
        return langevin(self.energy, z, steps=owner.sample_steps, generator=generator, **owner.chain_kwargs())


class EBMModule(GenerativeModule):
    # metrics=[toy_nll] normalizes exp(-E) by quadrature: no normalizer of its own (log_normalizer None)
    normalized = False
    log_normalizer = None

    def __init__(self, energy: nn.Module, loss, shape: tuple[int, ...], *, init: str, langevin: dict,
                 sample: dict, buffer: dict, data_noise: float, opt: dict, max_steps: int, log_every: int,
                 seed: int = 0):
        super().__init__(z_dim=math.prod(shape), max_steps=max_steps, log_every=log_every)
        self.automatic_optimization = False
        self.energy, self.loss, self.shape = energy, loss, tuple(shape)
        self.init, self.seed, self.data_noise = init, seed, float(data_noise)
        self.steps, self.step_size = int(langevin["steps"]), float(langevin["step_size"])
        self.noise_std = None if langevin.get("noise") is None else float(langevin["noise"])
        self.clamp = bool(langevin.get("clamp", True))
        self.sample_start, self.sample_steps = sample["start"], int(sample["steps"])
        self.reinit = float(buffer["reinit"])
        self.opt_cfg = dict(opt)
        # The box chains start in (uniform noise) and stay in: [-1, 1] for images, the data's for vectors (setup).
        self.register_buffer("box_low", torch.full(self.shape, -1.0))
        self.register_buffer("box_high", torch.full(self.shape, 1.0))
        size = int(buffer["size"]) if init == "buffer" else 0
        self.register_buffer("replay", torch.zeros(size, *self.shape))
        self.register_buffer("replay_filled", torch.zeros((), dtype=torch.bool))

    # ----------------------------------------------------------------- setup
    def configure_optimizers(self):
        return make_optimizer(self.opt_cfg, self.energy.parameters())

    def setup(self, stage: str | None = None) -> None:
        """Vectors: the box is the training data's bounding box, widened by 10% on each side (no draw involved)."""
        train = getattr(self.trainer.datamodule, "train_data", None)
        if len(self.shape) == 1 and isinstance(train, torch.Tensor):
            low, high = train.float().amin(0), train.float().amax(0)
            pad = 0.1 * (high - low)
            self.box_low.copy_(low - pad)
            self.box_high.copy_(high + pad)

    def chain_kwargs(self) -> dict:
        box = {"low": self.box_low, "high": self.box_high} if self.clamp else {}
        return {"step_size": self.step_size, "noise": self.noise_std, **box}

    def unnormalized_log_density(self, x: torch.Tensor) -> torch.Tensor:
        """-E(x): the log-density up to log Z, which the EBM never computes (metrics=[toy_nll] does, by quadrature
        in 2D)."""
        return -self.energy(x.to(self.device).float())

    # ----------------------------------------------------------------- sampling
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n chain starts, uniform over the box."""
        device = generator.device if generator is not None else self.device
        u = torch.rand((n, *self.shape), generator=generator, device=device)
        return self.box_low.to(device) + (self.box_high - self.box_low).to(device) * u

    @property
    def sampler(self) -> nn.Module:
        return ChainSampler(self)

    def sample_shard(self, n: int) -> torch.Tensor:
        """This rank's rows of the n samples `sample(n)` gives (one seeded draw, the same for every rank)."""
        return self.sample(n)[distributed.shard(n)]

    @torch.no_grad()
    def sample(self, n: int, z: torch.Tensor | None = None, batch_size: int = 1000) -> torch.Tensor:
        """n chain ends. start=noise: from `z` (default: uniform noise seeded by `seed`); start=buffer: from fixed
        slots of the replay buffer (seeded by `seed`; `z` only gives the count), `model.sample.steps` further."""
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        if self.sample_start == "buffer":
            size = len(self.replay)
            rows = (torch.randperm(size, generator=generator, device=self.device)[:n] if n <= size
                    else torch.randint(size, (n,), generator=generator, device=self.device))
            z = self.replay[rows]
        elif z is None:
            z = self.noise(n, generator)
        was_training = self.energy.training
        self.energy.eval()
        sampler = self.sampler
        out = torch.cat([sampler(chunk.to(self.device), generator) for chunk in z.split(batch_size)])
        self.energy.train(was_training)
        return out

    # ----------------------------------------------------------------- training
    def _chain_starts(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Where this step's chains start, and (init=buffer) the buffer rows they came from."""
        if self.init == "data":
            return real, None
        fresh = self.batch_noise(len(real))
        if self.init == "noise":
            return fresh, None
        if not bool(self.replay_filled):  # Du & Mordatch: the buffer starts as uniform noise
            self.replay.copy_(self.noise(len(self.replay)))
            self.replay_filled.fill_(True)
        rows = torch.randperm(len(self.replay), device=self.device)[:len(real)]  # distinct: writes do not collide
        keep = torch.rand(len(real), device=self.device) >= self.reinit
        keep = keep.view(-1, *([1] * len(self.shape)))
        return torch.where(keep, self.replay[rows], fresh), rows

    def train_batch(self, batch) -> None:
        opt = self.optimizers()
        real = self.to_model_space(batch)
        if self.data_noise:
            real = real + self.data_noise * distributed.randn_like(real)
        starts, rows = self._chain_starts(real)
        self.energy.eval()  # the chain reads E; spectral norm's power iteration advances only in the update
        fake = langevin(self.energy, starts, steps=self.steps, **self.chain_kwargs())
        self.energy.train()
        e_real, e_fake = self.energy(real), self.energy(fake)
        loss, contrast, penalty = self.loss(e_real, e_fake)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if (self.g_step + 1) % self.log_every == 0:
            self._track("grad_norm/ebm", grad_norm(self.energy))
        opt.step()
        if rows is not None:
            self.replay[rows] = fake
        self._track("loss/ebm", loss)
        self._track("train/cd", contrast)
        self._track("train/energy_penalty", penalty)
        self._track("train/energy_data", e_real.detach().mean())
        self._track("train/energy_model", e_fake.detach().mean())
        self.g_step += 1
        self.stepped_generator = True
        self._log_and_stop()


def build(cfg, shape: tuple[int, ...]) -> EBMModule:
    """The EBMModule of a composed config: an MLP energy for vectors, a conv energy for images."""
    from hydra.utils import instantiate

    m = cfg.model
    nets = m.nets
    if len(shape) == 1:
        energy = EnergyMLP(shape[0], list(nets.hidden), nets.activation)
    elif len(shape) == 3:
        energy = EnergyConv(tuple(shape), nets.width, nets.activation)
    else:
        raise ConfigError(f"model={m.name} takes vectors or (C, H, W) images; dataset={cfg.dataset.name} holds "
                          f"items of shape {tuple(shape)}")
    if nets.spectral_norm:
        energy = with_spectral_norm(energy)
    return EBMModule(energy, instantiate(cfg.loss), shape, init=m.init,
                     langevin=OmegaConf.to_container(m.langevin), sample=OmegaConf.to_container(m.sample),
                     buffer=OmegaConf.to_container(m.buffer), data_noise=m.data_noise,
                     opt=OmegaConf.to_container(m.opt), max_steps=cfg.train.max_steps,
                     log_every=cfg.train.log_every, seed=cfg.seed)
