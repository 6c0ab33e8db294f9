"""GANModule: the GAN game under Lightning's manual optimization.

Every training batch is one discriminator step; every `n_critic`-th also makes one generator step.
`updates="alternating"` (default) with `order="d_first"` (default): n_critic D steps, then G steps against
the updated D; `order="g_first"`: G steps first (on the first batch of a cycle), then n_critic D steps
against the updated G (Mescheder et al. 2018's Dirac-GAN notebook), the G step counted (g_step, schedules'
end, logging, budget) when its cycle's last D step is done. `updates="simultaneous"`: on a batch with a G
step both players' gradients are taken at the same point, then both step (the batches in between are
D-only steps; `order` does not apply). The objectives are methods (`d_objective`, `g_objective`,
`game_gradients`) shared by the training step and the analysis code (genbench.analysis.dirac.study).
`g_step` counts generator steps and drives the budget and every schedule (Lightning's global_step
counts the steps of both optimizers). The counters, statistics and sampling that the run machinery
reads are GenerativeModule's (genbench/modules/base.py), shared with the VAE.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from genbench.gan.checks import ORDERS, UPDATES
from genbench.modules.base import GenerativeModule, ema_update_, grad_norm
from genbench.modules.optim import make_optimizer
from genbench.regs.base import RegStep
from genbench.regs.grad import SharedForward


def has_joint_penalty(reg) -> bool:
    """True when `reg` overrides Regularizer.joint_penalty (a penalty on the joint gradient field)."""
    from genbench.regs.base import Regularizer

    return getattr(type(reg), "joint_penalty", Regularizer.joint_penalty) is not Regularizer.joint_penalty


def _grads(output: torch.Tensor, params: list[torch.Tensor], create_graph: bool) -> list[torch.Tensor]:
    """d output / d params, zeros for parameters it does not depend on."""
    grads = torch.autograd.grad(output, params, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)]


class GANModule(GenerativeModule):
    def __init__(self, generator: nn.Module, discriminator: nn.Module, loss, regs: list, *, z_dim: int,
                 n_critic: int, opt_g: dict, opt_d: dict, max_steps: int, log_every: int,
                 ema_decay: float | None = None, ema_start: int = 0, updates: str = "alternating",
                 order: str = "d_first"):
        super().__init__(z_dim=z_dim, max_steps=max_steps, log_every=log_every)
        self.automatic_optimization = False
        for reg in regs:
            discriminator = reg.wrap_discriminator(discriminator)
        self.generator, self.discriminator = generator, discriminator
        # regularizers with a network of their own (reg=lens): registered, so they move and are checkpointed
        self.reg_nets = nn.ModuleDict({reg.name: reg for reg in regs if isinstance(reg, nn.Module)})
        self.generator_ema = None
        if ema_decay:
            self.generator_ema = copy.deepcopy(generator).requires_grad_(False)
        self.loss, self.regs = loss, list(regs)
        self.grad_at = {side for reg in self.regs for side in reg.grad_at}  # D inputs whose forward R1/R2 reuse
        self.n_critic = self.batches_per_g_step = n_critic
        self.opt_cfg = {"g": dict(opt_g), "d": dict(opt_d)}
        self.ema_decay, self.ema_start = ema_decay, ema_start
        if updates not in UPDATES:
            raise ValueError(f"updates={updates!r}: choose one of {', '.join(UPDATES)}")
        self.updates = updates
        if order not in ORDERS:
            raise ValueError(f"order={order!r}: choose one of {', '.join(ORDERS)}")
        self.order = order
        self.d_count = 0       # discriminator steps done

    # ----------------------------------------------------------------- setup
    def configure_optimizers(self):
        return [make_optimizer(self.opt_cfg["d"], self.discriminator.parameters()),
                make_optimizer(self.opt_cfg["g"], self.generator.parameters()),
                *(reg.configure_optimizer() for reg in self.reg_nets.values())]

    def counters(self) -> dict:
        return {**super().counters(), "d_count": self.d_count}

    def at_step_boundary(self) -> bool:
        return self.d_count % self.n_critic == 0  # every batch is one D step; a cycle of n_critic ends with G's

    def load_counters(self, state: dict) -> None:
        super().load_counters(state)
        self.d_count = state.get("d_count", 0)

    # ----------------------------------------------------------------- sampling
    @property
    def sampler(self) -> nn.Module:
        """The network used for samples and evaluation: the EMA generator when there is one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    # ----------------------------------------------------------------- the game
    def _perturb(self, x: torch.Tensor) -> torch.Tensor:
        for reg in self.regs:
            x = reg.perturb(x, self.g_step)
        return x

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """D's loss on perturbed inputs, without penalties (a subclass changes how D sees the batches here)."""
        return self.loss.d_loss(self.discriminator(self._perturb(real)), self.discriminator(self._perturb(fake)))

    def real_view(self, real: torch.Tensor) -> torch.Tensor:
        """The real batch as D sees it, in its loss and its penalties: through every regularizer's `real_view`
        (reg=lens); fakes are untouched."""
        for reg in self.regs:
            real = reg.real_view(real, self.g_step)
        return real

    def d_objective(self, real: torch.Tensor, fake: torch.Tensor,
                    z: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """What D minimizes on a real and a fake batch (model space): `d_loss` on the `real_view` of the real
        batch plus every regularizer's `d_penalty`. Returns (loss, loss + penalties, {reg name: penalty}). `z`, the
        noise `fake` came from, is for objectives that read it (InfoGAN's codes); the GAN's does not."""
        real = self.real_view(real)
        if not self.grad_at:
            return self.with_d_penalties(self.d_loss(real, fake), real, fake)
        shared = SharedForward(self.discriminator, real, fake, self.grad_at)
        with shared.recording():
            loss = self.d_loss(shared.real, shared.fake)
        return self.with_d_penalties(loss, shared.real, shared.fake, shared)

    def with_d_penalties(self, loss: torch.Tensor, real: torch.Tensor, fake: torch.Tensor,
                         discriminator: SharedForward | None = None):
        """(loss, loss + every regularizer's `d_penalty`, {reg name: penalty}); `discriminator`: D with the loss's
        outputs on `real`/`fake` kept, for penalties at those points."""
        total, penalties = loss, {}
        for reg in self.regs:
            penalty = reg.d_penalty(discriminator or self.discriminator, real, fake, self.g_step)
            if penalty is not None:
                total = total + penalty
                penalties[reg.name] = penalty
        return loss, total, penalties

    def g_objective(self, fake: torch.Tensor, real: torch.Tensor | None = None,
                    z: torch.Tensor | None = None) -> torch.Tensor:
        """What G minimizes on a fake batch that still carries G's graph. `real` is the step's data batch, for
        objectives that show D real samples too (mixed batches, genbench/modules/bgan.py); `z` as in
        `d_objective`. Keeps D's logits on the fakes (detached) in `fake_logits` for regularizers that train after
        G on the same batch (reg=lens)."""
        logits = self.discriminator(self._perturb(fake))
        self.fake_logits = logits.detach()
        return self.loss.g_loss(logits)

    def g_penalties(self, z: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every regularizer's `g_penalty` at fake = G(z) (e.g. Jacobian clamping): {reg name: penalty},
        added to G's objective by both the alternating and the simultaneous step."""
        penalties = {}
        for reg in self.regs:
            penalty = reg.g_penalty(self.generator, z, fake, self.g_step)
            if penalty is not None:
                penalties[reg.name] = penalty
        return penalties

    @property
    def joint_regs(self) -> list:
        """The regularizers with a joint-field penalty (consensus), looked up once: the step asks every time."""
        if not hasattr(self, "_joint_regs"):
            self._joint_regs = [reg for reg in self.regs if has_joint_penalty(reg)]
        return self._joint_regs

    @property
    def g_penalty_names(self) -> list[str]:
        """Names of the regularizers that override `g_penalty`."""
        from genbench.regs.base import Regularizer

        return [reg.name for reg in self.regs
                if getattr(type(reg), "g_penalty", Regularizer.g_penalty) is not Regularizer.g_penalty]

    def game_gradients(self, real: torch.Tensor, z: torch.Tensor, create_graph: bool = False):
        """Both players' gradients at the current point, from one fake batch G(z): D's of `d_objective`,
        G's of `g_objective`, plus the gradient of every regularizer's `joint_penalty` (a function of that
        joint field) for both players. Simultaneous steps train with exactly these; the Dirac analysis
        (genbench.analysis.dirac.study) reads the vector field from them. Returns (grads_d, grads_g, stats); the
        gradient vector field is minus these (the direction plain gradient descent moves the parameters)."""
        d_params = [p for p in self.discriminator.parameters() if p.requires_grad]
        g_params = [p for p in self.generator.parameters() if p.requires_grad]
        joint = self.joint_regs
        fake = self.generator(z)
        graph = create_graph or bool(joint)  # D's gradient must stay a function of G's parameters
        loss_d, total_d, penalties = self.d_objective(real, fake if graph else fake.detach(), z)
        loss_g = self.g_objective(fake, real, z)
        g_penalties = self.g_penalties(z, fake)
        grads_d = _grads(total_d, d_params, graph)
        grads_g = _grads(sum(g_penalties.values(), loss_g), g_params, graph)
        stats = {"loss/d": loss_d, "loss/g": loss_g, **{f"reg/{k}": v for k, v in {**penalties, **g_penalties}.items()}}
        for reg in joint:
            penalty = reg.joint_penalty(grads_d, grads_g, self.g_step)
            if penalty is None:
                continue
            extra = _grads(penalty, d_params + g_params, create_graph)
            grads_d = [a + b for a, b in zip(grads_d, extra[:len(d_params)], strict=True)]
            grads_g = [a + b for a, b in zip(grads_g, extra[len(d_params):], strict=True)]
            stats[f"reg/{reg.name}"] = penalty
        if not create_graph:
            grads_d, grads_g = [g.detach() for g in grads_d], [g.detach() for g in grads_g]
        return grads_d, grads_g, stats

    def _apply_grads(self, module: nn.Module, grads: list[torch.Tensor]) -> None:
        """Backward of <grads, params> (through Lightning, so precision plugins see it): p.grad = grads."""
        params = [p for p in module.parameters() if p.requires_grad]
        self.manual_backward(sum((g * p).sum() for g, p in zip(grads, params, strict=True)))

    def train_batch(self, batch) -> None:
        opt_d, opt_g, *reg_opts = self.optimizers()
        real = self.to_model_space(batch)
        g_turn = (self.d_count + 1) % self.n_critic == 0  # the cycle's last batch
        log_cycle = (self.g_step + 1) % self.log_every == 0
        will_log = g_turn and log_cycle
        self.stepped_generator = False
        if self.updates == "simultaneous" and g_turn:
            self._simultaneous_step(real, opt_d, opt_g, will_log)
        elif self.order == "g_first":
            if self.d_count % self.n_critic == 0:  # the cycle's first batch: G opens it
                self._g_step(real, opt_g, log_cycle)
            self._d_step(real, opt_d, will_log)
            if not g_turn:
                return
        else:
            self._d_step(real, opt_d, will_log)
            if not g_turn:
                return
            self._g_step(real, opt_g, will_log)
        for reg, opt in zip(self.reg_nets.values(), reg_opts, strict=True):
            reg.train_step(self.reg_step(), real, opt, will_log)
        self.g_step += 1
        self.stepped_generator = True
        self._update_ema()
        self._log_and_stop()

    def reg_step(self) -> RegStep:
        """What a regularizer's own update (reg=lens) may use of this step."""
        return RegStep(g_step=self.g_step, loss=self.loss, discriminator=self.discriminator,
                       discriminate=lambda x: self.discriminator(self._perturb(x)), fake_logits=self.fake_logits,
                       backward=self.manual_backward, track=self._track)

    def _d_step(self, real: torch.Tensor, opt_d, will_log: bool) -> None:
        """One discriminator step (alternating updates, or a D-only step between simultaneous ones)."""
        opt_d.zero_grad(set_to_none=True)
        if self.joint_regs:  # the joint field needs G's gradient at this point too; D takes its part
            grads_d, _, stats = self.game_gradients(real, self.batch_noise(len(real)))
            self._apply_grads(self.discriminator, grads_d)
            for key, value in stats.items():
                if key != "loss/g":
                    self._track(key, value)
        else:
            z = self.batch_noise(len(real))
            with torch.no_grad():
                fake = self.generator(z)
            loss_d, total_d, penalties = self.d_objective(real, fake, z)
            for name, penalty in penalties.items():
                self._track(f"reg/{name}", penalty)
            self.manual_backward(total_d)
            self._track("loss/d", loss_d)
        if will_log:
            self._track("grad_norm/d", grad_norm(self.discriminator))
        opt_d.step()
        for reg in self.regs:
            reg.after_d_step(self.discriminator)
        self.d_count += 1

    def _g_step(self, real: torch.Tensor, opt_g, will_log: bool) -> None:
        """One generator step (D's parameters frozen: no weight gradients are computed for them)."""
        opt_g.zero_grad(set_to_none=True)
        if self.joint_regs:
            _, grads_g, stats = self.game_gradients(real, self.batch_noise(len(real)))
            self._apply_grads(self.generator, grads_g)
            loss_g = stats["loss/g"]
            g_penalties = {name: stats[f"reg/{name}"] for name in self.g_penalty_names if f"reg/{name}" in stats}
        else:
            self.discriminator.requires_grad_(False)
            z = self.batch_noise(len(real))
            fake = self.generator(z)
            loss_g = self.g_objective(fake, real, z)
            g_penalties = self.g_penalties(z, fake)
            self.manual_backward(sum(g_penalties.values(), loss_g))
            self.discriminator.requires_grad_(True)
        for name, penalty in g_penalties.items():
            self._track(f"reg/{name}", penalty)
        if will_log:
            self._track("grad_norm/g", grad_norm(self.generator))
        opt_g.step()
        self._track("loss/g", loss_g)

    def _simultaneous_step(self, real: torch.Tensor, opt_d, opt_g, will_log: bool) -> None:
        """Both players' gradients at the same point, then both step."""
        grads_d, grads_g, stats = self.game_gradients(real, self.batch_noise(len(real)))
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        self._apply_grads(self.discriminator, grads_d)
        self._apply_grads(self.generator, grads_g)
        if will_log:
            self._track("grad_norm/d", grad_norm(self.discriminator))
            self._track("grad_norm/g", grad_norm(self.generator))
        opt_d.step()
        opt_g.step()
        for reg in self.regs:
            reg.after_d_step(self.discriminator)
        self.d_count += 1
        for key, value in stats.items():
            self._track(key, value)

    def _update_ema(self) -> None:
        if self.generator_ema is None:
            return
        decay = 0.0 if self.g_step <= self.ema_start else self.ema_decay
        with torch.no_grad():
            ema_update_(list(self.generator_ema.parameters()), list(self.generator.parameters()), decay)
            for b_ema, b in zip(self.generator_ema.buffers(), self.generator.buffers(), strict=True):
                b_ema.copy_(b)


def build_parts(cfg, shape: tuple[int, ...], latent_dim: int | None = None) -> tuple[tuple, dict]:
    """The pieces of a GANModule for data of `shape`: ((generator, discriminator, loss, regs) with every `reg`
    entry in order, keyword arguments but z_dim). G takes `latent_dim` inputs (default `model.z_dim`); a module
    that changes a part (bgan, infogan) builds from these."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from genbench.nets import build_nets

    m = cfg.model
    generator, discriminator = build_nets(m.nets, shape, latent_dim or m.z_dim)
    regs = []
    for key, reg_cfg in (cfg.get("reg") or {}).items():
        regs.append(instantiate(reg_cfg))
        regs[-1].name = key  # logged as reg/<key>, the name the user typed
        regs[-1].setup(shape)
    kwargs = dict(n_critic=m.n_critic, opt_g=OmegaConf.to_container(m.opt_g), opt_d=OmegaConf.to_container(m.opt_d),
                  max_steps=cfg.train.max_steps, log_every=cfg.train.log_every,
                  ema_decay=m.ema.decay, ema_start=m.ema.start, updates=cfg.train.get("updates", "alternating"),
                  order=cfg.train.get("order", "d_first"))
    return (generator, discriminator, instantiate(cfg.loss), regs), kwargs


def build(cfg, shape: tuple[int, ...]) -> GANModule:
    """The GANModule of a composed config: networks for `shape`, the loss, every `reg` entry (in order)."""
    args, kwargs = build_parts(cfg, shape)
    return GANModule(*args, z_dim=cfg.model.z_dim, **kwargs)
