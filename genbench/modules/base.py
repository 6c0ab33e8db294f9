"""GenerativeModule: what the run machinery asks of every model family, written once.

The callbacks (evaluation, samples, checkpoints), run.py and genbench-eval only touch this interface:
- `g_step`: generator steps done (a VAE's every training step is one decoder step), which drives the budget
  and every schedule; `stepped_generator` is True right after a batch that ended with one;
- `status` ("running" | "diverged" | "interrupted"), `check_finite()`, `flush_stats()`, `latest` (the last
  logged training statistics);
- `z_dim`, `sampler` (the network z -> model space that samples are drawn with), `noise(n)`, `sample(n, z)`,
  `to_model_space(batch)` (uint8 images -> [-1, 1], the space samples are exchanged in);
- the counters in the checkpoint (`counters()`, saved under "genbench");
- `train_batch(batch)`: one training batch; `training_step` trains the list of batches in-memory data hands over
  at once (genbench/runs/step_chunks.py), `batches_per_g_step` and `at_step_boundary()` say where such a list
  may start;
- `step_observers`: functions called with the module after every generator step, inside the module's loop, so
  something that records every step (the Dirac-GAN's trajectory) does not force one step per Lightning batch.

Training statistics are summed on the device between log points (`_track`), so the hot loop never waits
on a device-to-host copy; `_log_stats` averages them, adds steps/s and hands them to every logger.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import nn

from genbench.data.model_space import to_model_space
from genbench.parallel import distributed

log = logging.getLogger("genbench")


def grad_norm(module: nn.Module) -> torch.Tensor:
    """The L2 norm of all of `module`'s parameter gradients together (the norm of the per-tensor norms).

    Public torch only: on the CPU a loop over the tensors (the cheapest there, and bitwise the value of the fused
    kernel); elsewhere torch.nn.utils.get_total_norm (torch >= 2.6), one fused kernel per device and dtype."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if grads[0].is_cpu or _total_norm is None:
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    return _total_norm(grads)


_total_norm = getattr(torch.nn.utils, "get_total_norm", None)


def ema_update_(averages: list[torch.Tensor], params: list[torch.Tensor], decay: float) -> None:
    """averages <- decay * averages + (1 - decay) * params, in place, all tensors at once: torch's public EMA
    helper (torch.optim.swa_utils), one fused lerp kernel, cached per decay (a closure per step costs time)."""
    _ema_fn(float(decay))(averages, params, None)


@functools.lru_cache(maxsize=8)
def _ema_fn(decay: float):
    from torch.optim.swa_utils import get_ema_multi_avg_fn

    return get_ema_multi_avg_fn(decay)


class GenerativeModule(pl.LightningModule):
    # Counters and flags the step rewrites every time: plain attributes, set without nn.Module.__setattr__'s
    # parameter/buffer/submodule checks (about 5 us each on a CPU, several times a step).
    STEP_ATTRIBUTES = frozenset({"g_step", "d_count", "stepped_generator", "fake_logits", "_tracked", "_counts",
                                   "stop_requested"})

    def __setattr__(self, name: str, value) -> None:
        if name in GenerativeModule.STEP_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def __init__(self, *, z_dim: int, max_steps: int, log_every: int):
        super().__init__()
        self.z_dim, self.max_steps, self.log_every = z_dim, max_steps, log_every
        self.g_step = 0        # generator steps done
        self.status = "running"
        self.stepped_generator = False  # True right after a batch that ended with a generator step
        self.step_observers: list[Callable[[GenerativeModule], None]] = []
        self.latest: dict[str, float] = {}
        self._reset_stats()
        self._clock = (time.perf_counter(), 0)

    # ----------------------------------------------------------------- checkpoint counters
    def counters(self) -> dict:
        """What the checkpoint keeps besides the weights and optimizer states (under "genbench"): the step and the
        statistics since the last log point, so a resumed run logs the same means as an uninterrupted one."""
        return {"g_step": self.g_step, "latest": self.latest,
                "tracked": ({k: torch.stack(v).cpu() for k, v in self._tracked.items()}, dict(self._counts))}

    def load_counters(self, state: dict) -> None:
        self.g_step = state.get("g_step", 0)
        self.latest = dict(state.get("latest", {}))
        if "tracked" in state:  # each statistic's values since the last log point, as kept
            values, counts = state["tracked"]
            self._tracked = {k: list(v.to(self.device).unbind(0)) for k, v in values.items()}
        else:  # a checkpoint of genbench before 2026-11-29 kept their sums
            sums, counts = state.get("stats", ({}, {}))
            self._tracked = {k: [v.to(self.device)] for k, v in sums.items()}
        self._counts = dict(counts)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint.setdefault("genbench", {}).update(self.counters())

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.load_counters(checkpoint.get("genbench", {}))

    # ----------------------------------------------------------------- data and sampling
    to_model_space = staticmethod(to_model_space)  # uint8 images -> [-1, 1]; vectors pass through

    @property
    def sampler(self) -> nn.Module:
        """The network z -> model space used for samples and evaluation."""
        raise NotImplementedError

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latent inputs, N(0, I). With a seeded `generator` the draw is reproducible and made on the
        generator's device (fixed sample grids); subclasses with structured latents (InfoGAN) override this."""
        if generator is None:
            return torch.randn(n, self.z_dim, device=self.device)
        return torch.randn(n, self.z_dim, generator=generator, device=generator.device)

    def batch_noise(self, n_local: int) -> torch.Tensor:
        """Latents for a training batch of `n_local` rows on this rank: its rows of one draw for the global
        batch, so W ranks draw what one rank would (genbench/parallel/distributed.py)."""
        if self.one_process:
            return self.noise(n_local)
        return distributed.local_rows(self.noise, n_local)

    def sample_shard(self, n: int) -> torch.Tensor:
        """This rank's share of n samples for an evaluation: its rows of one draw of n latents."""
        z = self.noise(n)[distributed.shard(n)]
        return self.sample(len(z), z)

    @torch.no_grad()
    def sample(self, n: int, z: torch.Tensor | None = None, batch_size: int = 1000) -> torch.Tensor:
        net = self.sampler
        was_training = net.training
        net.eval()
        z = self.noise(n) if z is None else z.to(self.device)
        out = torch.cat([net(chunk) for chunk in z.split(batch_size)])
        net.train(was_training)
        return out

    # ----------------------------------------------------------------- training
    batches_per_g_step = 1  # training batches per generator step (a GAN's n_critic)
    direct_steps = False    # backward and optimizer steps without Lightning's wrappers (set in on_train_start)
    one_process = False     # training in a single process (set in on_train_start): no rank's rows to pick
    stop_requested = False  # a signal asks to stop at the next generator step (genbench/callbacks/preemption.py)

    def manual_backward(self, loss: torch.Tensor, *args, **kwargs) -> None:
        """Lightning's manual_backward runs its precision plugin and the callbacks' backward hooks, ~0.1 ms each
        time on a CPU; in one float32 process, where they do nothing, plain autograd does the same computation."""
        if self.direct_steps:
            loss.backward(*args, **kwargs)
        else:
            super().manual_backward(loss, *args, **kwargs)

    def optimizers(self, use_pl_optimizer: bool = True):
        """The optimizers; in one float32 process the torch optimizers themselves (see manual_backward), else
        Lightning's wrappers (DDP, mixed precision)."""
        if self.direct_steps:
            found = self.trainer.optimizers
            return found[0] if len(found) == 1 else found
        return super().optimizers(use_pl_optimizer=use_pl_optimizer)

    def at_step_boundary(self) -> bool:
        """True between generator steps (no generator step is half done): a list of batches may start here."""
        return True

    def training_step(self, batch, batch_idx):
        """One Lightning batch: one training batch, or a list of them (in-memory data, several generator steps
        per Lightning batch), trained one after another until the run stops (the budget, a divergence, or, in one
        process, a signal: genbench/callbacks/preemption.py) at a generator step's end."""
        if not isinstance(batch, list):
            return self.train_batch(batch)
        for i, one in enumerate(batch):
            self.train_batch(one)
            if (self.trainer.should_stop or self.stop_requested) and self.at_step_boundary():
                left = len(batch) - i - 1
                if left:  # the data stream resumes after the batches trained, not after the list
                    getattr(self.trainer.datamodule, "hand_back", lambda n: None)(left)
                break

    def train_batch(self, batch) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- end of a generator step
    def _log_and_stop(self) -> None:
        """After `g_step` was counted: tell the step observers, log on schedule, stop at the budget."""
        for observe in self.step_observers:
            observe(self)
        if self.g_step % self.log_every == 0:
            self._log_stats()
        if self.g_step >= self.max_steps:
            self.trainer.should_stop = True

    # ----------------------------------------------------------------- statistics
    # A statistic's values stay on the device as they come, appended to a list (a running sum would cost a tensor
    # add, a kernel launch, for every value of every step) and are summed at the log point; a list reaching
    # FOLD_AT values is summed into one, so memory stays bounded whatever log_every is.
    FOLD_AT = 256

    def _reset_stats(self) -> None:
        self._tracked: dict[str, list[torch.Tensor]] = {}
        self._counts: dict[str, int] = {}

    def _track(self, key: str, value: torch.Tensor) -> None:
        values = self._tracked.get(key)
        if values is None:
            values = self._tracked[key] = []
        values.append(value.detach())
        if len(values) >= self.FOLD_AT:
            values[:] = [torch.stack(values).sum(0)]
        self._counts[key] = self._counts.get(key, 0) + 1

    def tracked_sums(self) -> dict[str, torch.Tensor]:
        """Each statistic's sum since the last log point."""
        return {k: torch.stack(v).sum(0) if len(v) > 1 else v[0] for k, v in self._tracked.items()}

    def check_finite(self, parameters: bool = False, optimizers=None, sums: dict | None = None) -> bool:
        """Sync point: False (and status diverged, training stopped) once any loss was NaN/Inf, or, with
        `parameters`, any weight is, or, given the trainer as `optimizers`, any optimizer state is (checked before
        a checkpoint is written). Under DDP every rank calls it at the same steps and all agree: a NaN on one
        rank stops every rank. `sums`: `tracked_sums()` when the caller has them already."""
        if self.status == "diverged":
            return False
        # A running sum is non-finite once any of its terms was: checking the sums since the last log
        # point costs one sync here instead of two tensor ops in every step.
        sums = self.tracked_sums() if sums is None else sums
        finite = all(bool(torch.isfinite(v).all()) for v in sums.values())
        if finite and parameters:
            finite = all(bool(torch.isfinite(p).all()) for p in self.parameters())
        if finite and optimizers is not None:
            from genbench.callbacks.checkpoint import optimizer_states_finite

            finite = optimizer_states_finite(optimizers)
        finite = distributed.agree_all(finite)
        if not finite:
            self.status = "diverged"
            self.trainer.should_stop = True
            log.error("a loss, weight or optimizer state became NaN or Inf at or before generator step %d: "
                      "stopping (status diverged)", self.g_step)
            return False
        return True

    def flush_stats(self) -> None:
        """Log what was tracked since the last log point (called by evaluation at odd steps)."""
        if self._counts:
            self._log_stats()

    def _log_stats(self) -> None:
        sums = self.tracked_sums()
        if not self.check_finite(sums=sums):
            return
        stats = {k: float(v) / self._counts[k] for k, v in distributed.mean_over_ranks(sums).items()}
        now, steps = time.perf_counter(), self.g_step
        start, start_steps = self._clock
        stats["time/g_steps_per_s"] = (steps - start_steps) / max(now - start, 1e-9)
        stats["time/wall_s"] = now - self.trainer_start if hasattr(self, "trainer_start") else math.nan
        self._clock = (now, steps)
        self._reset_stats()
        self.latest = stats
        for logger in self.trainer.loggers:
            logger.log_metrics(stats, step=self.g_step)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in stats.items() if not k.startswith("time/wall"))
        log.info("step %d/%d  %s", self.g_step, self.max_steps, shown)

    def on_train_start(self) -> None:
        from pytorch_lightning.strategies import SingleDeviceStrategy

        trainer = self.trainer
        self.one_process = trainer.world_size == 1
        self.direct_steps = (self.one_process and isinstance(trainer.strategy, SingleDeviceStrategy)
                             and str(trainer.precision) == "32-true")
        self.trainer_start = time.perf_counter()
        self._clock = (self.trainer_start, self.g_step)
