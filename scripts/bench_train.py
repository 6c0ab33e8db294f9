"""Training-throughput benchmark: genbench's real training path against a plain PyTorch loop.

What is compared
    For each case, generator steps per second of
    * genbench: the config composed by Hydra from genbench.conf, the data module, GANModule and a
      Lightning Trainer built by genbench.runs.train (build_datamodule, build_module, build_trainer), with
      genbench's callbacks (evaluation, samples, checkpoint) attached at intervals that do not fire
      inside the timed window, and no logger;
    * plain: a hand-written loop over the same networks (built by genbench.nets from the same
      config and the same seed, checked to have identical initial weights), the same loss (NS or
      hinge), regularizer (none, gp0 or sn), batch size, n_critic, Adam settings (genbench's
      make_optimizer: fused on CUDA), torch threads and batch source (a shuffled in-memory
      tensor indexed per batch, [0, 255] images mapped to [-1, 1] as GANModule.to_model_space does),
      with the same step structure as GANModule.training_step: D on real and on G(z).detach() in
      separate forwards, zero_grad(set_to_none=True), backward, step; every n_critic-th batch then
      a G step with D's requires_grad switched off.
    `--device cuda` runs both on the GPU (hardware=gpu; batches copied to it per step, as Lightning
    does) and `--precision bf16-mixed` under bf16 autocast (Lightning's plugin; torch.autocast in
    the plain loop). On a GPU the clocks synchronize the device before reading the time; the two
    paths then do the same computation but need not end on bitwise the same weights.
    Both run `--warmup` generator steps first and then `--steps` more, in paired windows of `--window`
    steps: genbench trains a window (timed between two on_train_batch_end calls, so Trainer start-up
    and teardown are excluded), then, from a callback, the plain loop trains the same window, and so
    on; the two paths alternate every fraction of a second, so a machine whose speed drifts (other
    tenants, CPU steal) slows both sides of a pair alike. The plain loop keeps its own state of
    torch's random generator, swapped in around its windows. `--rounds` repeats this in fresh runs.
    Seeds, batches and noise draws match, so on a CPU both paths end on bitwise the same weights:
    the script checks that, which shows they did the same computation.

How to read it
    Absolute steps/s depend on the machine, its load and the thread count; what carries over is the
    ratio genbench/plain measured in the same process on the same machine, and the overhead
    1 - genbench/plain: the price of Lightning and of GANModule's bookkeeping per step. Both are
    medians over the paired windows. It weighs most where a step is cheap (the 2D MLP cases, a few
    ms per step on a CPU) and least where the networks dominate. The ms/step column is genbench's
    extra time per generator step (the median over pairs, with a 95% bootstrap interval): a fixed
    cost (Lightning's loop and hooks per batch, the module's Python per step), about the same for
    every case, so the overhead in % is about that constant divided by the plain step time. The
    project's targets: at most 5% for DCGAN at 32x32, at most 0.2 ms per step on the MLP cases.

    Other processes on the machine spoil the numbers (with torch using every core, one busy core
    elsewhere can slow a step several-fold). Each measurement reports how many cores other
    processes kept busy during it ("busy"), is repeated (`--retries`) while that exceeds
    `--busy-limit`, and the script warns when a kept measurement was still disturbed. On a shared
    machine, `--threads 1` is the steadier choice.

Cases
    dcgan32    DCGAN nets on random uint8 (3, 32, 32) images in memory, batch 64, z 64, NS loss, no reg.
    mlp2d      MLP nets on ring8, batch 256, NS loss, no reg.
    mlp2d_gp0  mlp2d with the zero-centred gradient penalty (gp0, weight 1): genbench's default run.
    sngan32    model=sngan on the dcgan32 images: resnet32 nets, hinge loss, spectral norm, 5 D steps per G
               step (not run by default; scripts/gpu_check.py times it on a GPU).

Methods (--methods)
    Generator steps/s of each training method of docs/models.md's method table through genbench's path,
    against the plain non-saturating GAN (`model=gan reg=none`) on the same network, measured in the
    same rounds (alternating order): the overhead is what the method itself costs per generator step.
    Networks: mlp2d (ring8, batch 256) and dcgan32 (random 32x32 images, batch 64). The condition-number
    logging (metrics=[conditioning]) runs only at evaluations, so its overhead at the default schedule is
    measured as the time of one evaluation divided by the time of `eval.every` generator steps.

    python scripts/bench_train.py                      # all cases, default steps (about 3 minutes)
    python scripts/bench_train.py --cases mlp2d --steps 3000 --rounds 5 --json bench.json
    python scripts/bench_train.py --cases none --methods all --rounds 3      # per-method table
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig
from torch import nn
from torch.nn import functional as F

from genbench.callbacks.checkpoint import LastCheckpoint
from genbench.callbacks.evaluation import Evaluator
from genbench.callbacks.samples import SampleImages
from genbench.data.datamodule import GenDataModule
from genbench.metrics.choice import Choice
from genbench.modules.gan import GANModule
from genbench.nets import build_nets
from genbench.runs.train import build_datamodule, build_module, build_trainer

TARGET_CASE, TARGET_OVERHEAD = "dcgan32", 0.05
MLP_CASES, TARGET_MS = ("mlp2d", "mlp2d_gp0"), 0.2  # genbench's extra ms per generator step on the MLPs
NEVER = 10**9  # a schedule interval that does not fire during a benchmark


@dataclass(frozen=True)
class Case:
    name: str
    overrides: tuple[str, ...]
    steps: int   # default timed generator steps
    warmup: int  # default untimed generator steps before them
    window: int = 0  # generator steps per paired window (0: all the timed steps in one)


CASES = {
    "dcgan32": Case("dcgan32", ("dataset=cifar10", "reg=none"), steps=60, warmup=5, window=5),
    "mlp2d": Case("mlp2d", ("dataset=ring8", "reg=none"), steps=1500, warmup=100, window=25),
    "mlp2d_gp0": Case("mlp2d_gp0", ("dataset=ring8", "reg=gp0"), steps=1000, warmup=100, window=25),
    "sngan32": Case("sngan32", ("dataset=cifar10", "model=sngan"), steps=10, warmup=2, window=5),  # not default
}
DEFAULT_CASES = "dcgan32,mlp2d,mlp2d_gp0"

# --methods: method -> the overrides a user types; each is measured on every network of METHOD_NETS against
# BASELINE_METHOD on the same network.
BASELINE_METHOD = "ns_gan"
METHODS = {
    "ns_gan": ("model=gan", "reg=none"),
    "gp0": ("model=gan", "reg=gp0"),
    "jacobian_clamp": ("model=gan", "reg=jacobian_clamp"),
    "minibatch_disc": ("model=gan", "reg=minibatch_disc"),
    "consensus": ("model=gan", "reg=consensus"),
    "lens": ("model=gan", "reg=lens"),
    "bgan": ("model=bgan",),
    "mbgan": ("model=mbgan",),
    "infogan": ("model=infogan",),
}
METHOD_NETS = {"mlp2d": Case("mlp2d", ("dataset=ring8",), steps=600, warmup=50),
               "dcgan32": Case("dcgan32", ("dataset=cifar10",), steps=20, warmup=3)}


@dataclass(frozen=True)
class Measurement:
    steps_per_s: float
    other_cores: float  # cores kept busy by other processes during the timed window
    weights: float      # fingerprint of the initial weights
    trained: float      # fingerprint of the weights after the last step


class RandomImages:
    """An in-memory image dataset with the interface of genbench's readers: random uint8 pixels."""

    is_image = True
    name = "random_images"

    def __init__(self, shape: tuple[int, ...], n: int, seed: int):
        self.shape, self.n, self.seed = tuple(shape), n, seed

    def load(self, split: str = "train") -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 2 + (split != "train"))
        return torch.randint(0, 256, (self.n, *self.shape), dtype=torch.uint8, generator=generator)

    def labels(self, split: str = "train") -> None:
        return None


# --------------------------------------------------------------------------- config and data
def run_overrides(args) -> list[str]:
    """The hardware group for --device and --precision (defaults: CPU, float32), and --steps-per-batch."""
    device, precision = getattr(args, "device", "cpu"), getattr(args, "precision", "32-true")
    chunk = getattr(args, "steps_per_batch", None)
    return [*(["hardware=gpu"] if device == "cuda" else []), f"hardware.precision={precision}",
            *([f"train.steps_per_batch={chunk}"] if chunk else [])]


def compose_config(case: Case, threads: int, max_steps: int, hardware: tuple[str, ...] | list[str] = ()) -> DictConfig:
    overrides = [*hardware, *case.overrides, "logger=none", "metrics=none", f"hardware.threads={threads}",
                 f"train.max_steps={max_steps}", f"train.sample_every={NEVER}",
                 f"train.checkpoint_every={NEVER}", f"eval.every={NEVER}"]
    with initialize_config_module("genbench.conf", version_base="1.3"):
        return compose("config", overrides=overrides)


def make_datamodule(cfg: DictConfig, n_images: int) -> GenDataModule:
    if cfg.dataset.name == "cifar10":  # the shape and batch size of CIFAR-10, random pixels in memory
        shape = (int(cfg.dataset.channels), int(cfg.dataset.image_size), int(cfg.dataset.image_size))
        return GenDataModule(RandomImages(shape, n_images, cfg.seed), cfg.dataset.batch_size, cfg.seed,
                             steps_per_batch=cfg.train.steps_per_batch)
    return build_datamodule(cfg)


class CpuClock:
    """Wall time, this process's CPU time and the machine's busy CPU time, read together.

    The difference of two readings tells how many cores other processes kept busy in between: on a
    shared machine that is what spoils a measurement (two torch threads on two cores slow down
    several-fold as soon as anything else runs), so each measurement reports it.
    """

    HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self):
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()  # the work queued so far belongs before this reading
        self.wall = time.perf_counter()
        own = os.times()
        self.own = own.user + own.system
        self.busy = self._machine_busy()

    @classmethod
    def _machine_busy(cls) -> float | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        return (user + nice + system + irq + softirq + steal) / cls.HZ

    def until(self, later: CpuClock) -> tuple[float, float]:
        """(seconds elapsed, cores used by other processes meanwhile; nan where unknown).

        The kernel counts CPU time in clock ticks (10 ms): windows under half a second say nothing.
        """
        elapsed = later.wall - self.wall
        if self.busy is None or later.busy is None or elapsed < 0.5:
            return elapsed, math.nan
        other = (later.busy - self.busy) - (later.own - self.own)
        return elapsed, max(0.0, other / elapsed)


def fingerprint(net: nn.Module) -> float:
    """A checksum of the initial weights, to check that both paths train the same networks."""
    with torch.no_grad():
        return float(sum(p.double().sum() + p.double().abs().sum() for p in net.parameters()))


# --------------------------------------------------------------------------- genbench
class StepTimer(pl.Callback):
    """Wall time from the end of generator step `start` to the end of generator step `stop`."""

    def __init__(self, start: int, stop: int):
        self.start, self.stop = start, stop
        self.every = (start, stop)  # the steps it acts at (genbench/runs/step_chunks.py)
        self.t0: CpuClock | None = None
        self.t1: CpuClock | None = None

    def on_train_start(self, trainer, module) -> None:
        if self.start == 0:
            self.t0 = CpuClock()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if not module.stepped_generator:
            return
        if module.g_step == self.start:
            self.t0 = CpuClock()
        elif module.g_step == self.stop:
            self.t1 = CpuClock()

    def window(self) -> tuple[float, float]:
        """(seconds, cores used by other processes) of the timed window."""
        if self.t0 is None or self.t1 is None:
            raise RuntimeError(f"the timed window (generator steps {self.start}..{self.stop}) was not completed")
        return self.t0.until(self.t1)


def genbench_callbacks(cfg: DictConfig, run_dir: Path) -> list[pl.Callback]:
    """genbench's evaluation, sample and checkpoint callbacks at the config's intervals (which the benchmark sets
    not to fire in a timed window)."""
    protocol = {"dataset": cfg.dataset.name}
    return [Evaluator(run_dir, Choice((), None, None), cfg.eval.every, cfg.eval.n, protocol=protocol),
            SampleImages(run_dir, cfg.train.sample_every, seed=cfg.seed),
            LastCheckpoint(run_dir, cfg.train.checkpoint_every)]


def fit(cfg: DictConfig, data, module, run_dir: Path, timer: pl.Callback, callbacks: bool = True) -> None:
    """Fit `module` through genbench's Trainer, with its evaluation, sample and checkpoint callbacks unless
    `callbacks` is False, and `timer`; to the config's budget."""
    trainer = build_trainer(cfg, run_dir, [], [*(genbench_callbacks(cfg, run_dir) if callbacks else []), timer])
    trainer.fit(module, datamodule=data)
    if module.g_step != cfg.train.max_steps:
        raise RuntimeError(f"genbench stopped at generator step {module.g_step}, not {cfg.train.max_steps}")


def timed_fit(cfg: DictConfig, data, module, run_dir: Path, warmup: int, steps: int,
              callbacks: bool = True) -> tuple[float, float]:
    """`fit` with a StepTimer: (seconds, cores other processes used) of generator steps warmup..+steps."""
    timer = StepTimer(warmup, warmup + steps)
    fit(cfg, data, module, run_dir, timer, callbacks)
    return timer.window()


@contextlib.contextmanager
def genbench_run(case: Case, args, total: int):
    """genbench's path for a case, seeded and built as a run is: (config, data module, GANModule, run folder)."""
    cfg = compose_config(case, args.threads, total, run_overrides(args))
    with tempfile.TemporaryDirectory(prefix="genbench-bench-") as tmp:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        data = make_datamodule(cfg, args.images)
        data.setup("fit")
        yield cfg, data, build_module(cfg, data.shape), Path(tmp)


def gan_fingerprint(module: GANModule) -> float:
    return fingerprint(module.generator) + fingerprint(module.discriminator)


def run_genbench(case: Case, args, steps: int, warmup: int) -> Measurement:
    """Generator steps/s of genbench's training path."""
    with genbench_run(case, args, warmup + steps) as (cfg, data, module, run_dir):
        weights = gan_fingerprint(module)
        elapsed, other = timed_fit(cfg, data, module, run_dir, warmup, steps, callbacks=not args.no_callbacks)
        return Measurement(steps / elapsed, other, weights, gan_fingerprint(module))


# --------------------------------------------------------------------------- plain PyTorch
def to_model_space(batch: torch.Tensor) -> torch.Tensor:
    if batch.dtype == torch.uint8:
        return batch.float().div_(127.5).sub_(1.0)
    return batch.float()


def gradient_penalty(d: nn.Module, real: torch.Tensor, fake: torch.Tensor, center: float) -> torch.Tensor:
    eps = torch.rand(len(real), *([1] * (real.dim() - 1)), dtype=real.dtype, device=real.device)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    if center == 0:  # genbench's gp0: the squared norm, no square root
        return grad.flatten(1).pow(2).sum(1).mean()
    return (grad.flatten(1).norm(2, dim=1) - center).pow(2).mean()


PLAIN_LOSSES = {  # (D's loss on real and fake logits, G's on fake logits), reduced in float32 as genbench's are
    "genbench.losses.ns.NonSaturatingLoss": (
        lambda r, f: F.softplus(-r.float()).mean() + F.softplus(f.float()).mean(),
        lambda f: F.softplus(-f.float()).mean()),
    "genbench.losses.hinge.HingeLoss": (
        lambda r, f: F.relu(1 - r.float()).mean() + F.relu(1 + f.float()).mean(),
        lambda f: -f.float().mean()),
}


class PlainLoop:
    """A hand-written loop with the same pieces as genbench's path, advanced a few generator steps at a time.

    It keeps its own state of torch's global random generator (swapped in around every `advance`), so it draws
    the same noise whether it runs alone or between genbench's steps in the same process."""

    def __init__(self, case: Case, args, total: int):
        from genbench.modules.optim import make_optimizer
        from genbench.regs.sn import SpectralNorm

        cfg = compose_config(case, args.threads, total, run_overrides(args))
        m = cfg.model
        if m.ema.decay or cfg.loss._target_ not in PLAIN_LOSSES or m.opt_d.name != "adam" or m.opt_g.name != "adam":
            raise ValueError("the plain loop implements no EMA, the NS and hinge losses and Adam only")
        regs = dict(cfg.reg or {})
        if set(regs) - {"gp0", "sn"}:
            raise ValueError(f"the plain loop implements reg=none, gp0 and sn only, not {sorted(regs)}")
        self.gp = (float(regs["gp0"].weight), float(regs["gp0"].center)) if "gp0" in regs else None
        self.d_loss_fn, self.g_loss_fn = PLAIN_LOSSES[cfg.loss._target_]
        self.device = torch.device("cuda" if cfg.hardware.accelerator == "gpu" else "cpu")
        self.bf16 = str(cfg.hardware.precision) == "bf16-mixed"
        if cfg.hardware.get("matmul_precision"):
            torch.set_float32_matmul_precision(cfg.hardware.matmul_precision)

        outer = self._rng_state()
        torch.manual_seed(cfg.seed)
        datamodule = make_datamodule(cfg, args.images)
        self.data, self.batch_size = datamodule.dataset.load("train"), int(cfg.dataset.batch_size)
        g, d = build_nets(m.nets, datamodule.shape, m.z_dim)
        if "sn" in regs:
            d = SpectralNorm(int(regs["sn"].get("n_power_iterations", 1))).wrap_discriminator(d)
        self.weights = fingerprint(g) + fingerprint(d)
        self.g, self.d = g.to(self.device).train(), d.to(self.device).train()
        self.opt_d = make_optimizer(m.opt_d, self.d.parameters())
        self.opt_g = make_optimizer(m.opt_g, self.g.parameters())
        self.shuffle = torch.Generator().manual_seed(cfg.seed)
        self.z_dim, self.n_critic = int(m.z_dim), int(m.n_critic)
        self.rng = self._rng_state()
        self._set_rng_state(outer)
        self._steps = self._generator_steps()
        self.losses: tuple[torch.Tensor, torch.Tensor] | None = None

    def _rng_state(self):
        cuda = self.device.type == "cuda"
        return torch.get_rng_state(), (torch.cuda.get_rng_state() if cuda else None)

    def _set_rng_state(self, state) -> None:
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1])

    def advance(self, steps: int) -> tuple[CpuClock, CpuClock]:
        """Train `steps` more generator steps; the clock readings just before and after them."""
        outer = self._rng_state()
        self._set_rng_state(self.rng)
        before = CpuClock()
        for _ in range(steps):
            next(self._steps)
        after = CpuClock()
        self.rng = self._rng_state()
        self._set_rng_state(outer)
        return before, after

    def trained(self) -> float:
        if self.losses is None or not torch.isfinite(self.losses[0] + self.losses[1]):
            raise RuntimeError("plain loop: no step done, or a non-finite loss")
        return fingerprint(self.g) + fingerprint(self.d)

    def _generator_steps(self):
        """Yields after every generator step, forever: GANModule.train_batch's structure, written out."""
        g, d, opt_d, opt_g, device, n_critic = self.g, self.d, self.opt_d, self.opt_g, self.device, self.n_critic
        data, batch_size, gp = self.data, self.batch_size, self.gp
        n_batches, d_count = len(data) // batch_size, 0
        autocast = ((lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if self.bf16
                    else contextlib.nullcontext)
        while True:
            order = torch.randperm(len(data), generator=self.shuffle)
            for i in range(n_batches):
                real = to_model_space(data[order[i * batch_size:(i + 1) * batch_size]].to(device, non_blocking=True))
                n = len(real)
                with autocast():  # bf16 autocast, or nothing (no disabled autocast context in float32)
                    # discriminator step
                    with torch.no_grad():
                        fake = g(torch.randn(n, self.z_dim, device=device))
                    loss_d = self.d_loss_fn(d(real), d(fake))
                    if gp is not None:
                        loss_d = loss_d + gp[0] * gradient_penalty(d, real, fake, gp[1])
                    opt_d.zero_grad(set_to_none=True)
                    loss_d.backward()
                    opt_d.step()
                    d_count += 1
                    if d_count % n_critic:
                        continue
                    # generator step, D frozen
                    d.requires_grad_(False)
                    loss_g = self.g_loss_fn(d(g(torch.randn(n, self.z_dim, device=device))))
                    opt_g.zero_grad(set_to_none=True)
                    loss_g.backward()
                    opt_g.step()
                    d.requires_grad_(True)
                self.losses = (loss_d.detach(), loss_g.detach())
                yield


# --------------------------------------------------------------------------- both, window by window
@dataclass
class PairedRound:
    genbench_s: list[float]  # seconds of each genbench window
    plain_s: list[float]     # seconds of the plain window right after it
    other_cores: float       # cores other processes kept busy from the first window to the last
    weights: tuple[float, float]  # initial-weight fingerprints (genbench, plain)
    trained: tuple[float, float]  # final-weight fingerprints (genbench, plain)


class PairedWindows(pl.Callback):
    """Times genbench's path window by window and, at the end of each window, runs the plain loop for as many
    steps: the two paths alternate every fraction of a second, so a machine that changes speed (other tenants,
    CPU steal) slows both sides of a pair alike."""

    def __init__(self, plain: PlainLoop, warmup: int, window: int, windows: int):
        self.plain, self.warmup, self.window, self.windows = plain, warmup, window, windows
        self.every = tuple(s for s in (warmup, window) if s)  # the steps it acts at (genbench/runs/step_chunks.py)
        self.genbench_s: list[float] = []
        self.plain_s: list[float] = []
        self.first: CpuClock | None = None
        self.mark: CpuClock | None = None
        self.last: CpuClock | None = None

    def on_train_start(self, trainer, module) -> None:
        if self.warmup == 0:
            self._start()

    def _start(self) -> None:
        if self.warmup:
            self.plain.advance(self.warmup)
        self.first = self.mark = CpuClock()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if not module.stepped_generator or module.g_step < self.warmup:
            return
        if self.mark is None:
            if module.g_step == self.warmup:
                self._start()
            return
        done = module.g_step - self.warmup
        if done % self.window or len(self.genbench_s) >= self.windows:
            return
        end = CpuClock()
        self.genbench_s.append(self.mark.until(end)[0])
        before, after = self.plain.advance(self.window)
        self.plain_s.append(before.until(after)[0])
        self.mark = self.last = after

    def other_cores(self) -> float:
        if self.first is None or len(self.plain_s) < self.windows:
            raise RuntimeError(f"only {len(self.plain_s)} of {self.windows} paired windows were completed")
        return self.first.until(self.last)[1]


def run_paired(case: Case, args, steps: int, warmup: int, window: int) -> PairedRound:
    """One round: genbench's path (as run_genbench) trains warmup + steps generator steps; after each window of
    `window` steps the plain loop trains the same window."""
    plain = PlainLoop(case, args, warmup + steps)
    with genbench_run(case, args, warmup + steps) as (cfg, data, module, run_dir):
        weights = gan_fingerprint(module)
        pairs = PairedWindows(plain, warmup, window, steps // window)
        fit(cfg, data, module, run_dir, pairs, callbacks=not args.no_callbacks)
        trained = gan_fingerprint(module)
    return PairedRound(pairs.genbench_s, pairs.plain_s, pairs.other_cores(), (weights, plain.weights),
                       (trained, plain.trained()))


# --------------------------------------------------------------------------- methods
def conditioning_overhead(net: Case, args, baseline_steps_per_s: float) -> dict:
    """The condition-number metric's cost at its default schedule: one evaluation (on the generator after a few
    steps) against the time of eval.every generator steps of the plain GAN."""
    from genbench.metrics.base import EvalContext
    from genbench.metrics.conditioning import GeneratorConditioning

    cfg = compose_config(Case(net.name, (*net.overrides, *METHODS[BASELINE_METHOD]), 2, 0), args.threads, 2)
    every = int(compose_defaults().eval.every)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    data = make_datamodule(cfg, args.images)
    data.setup("fit")
    module = build_module(cfg, data.shape)
    metric, context = GeneratorConditioning(), EvalContext(module=module)
    metric(None, data.dataset, context)  # first call: torch.func compilation and allocations
    start = time.perf_counter()
    metric(None, data.dataset, context)
    seconds = time.perf_counter() - start
    return {"method": "conditioning logging", "net": net.name, "eval_s": seconds, "every": every,
            "overhead": seconds / (seconds + every / baseline_steps_per_s)}


def compose_defaults() -> DictConfig:
    with initialize_config_module("genbench.conf", version_base="1.3"):
        return compose("config")


def bench_methods(names: list[str], args) -> list[dict]:
    """Each method's genbench steps/s on each network against the plain NS GAN's, the same rounds."""
    results = []
    for net in (METHOD_NETS[name] for name in args.nets):
        steps = args.steps if args.steps is not None else net.steps
        warmup = args.warmup if args.warmup is not None else net.warmup
        order = [BASELINE_METHOD, *[n for n in names if n != BASELINE_METHOD]]
        rates: dict[str, list[float]] = {name: [] for name in order}
        for r in range(args.rounds):
            for name in (order if r % 2 == 0 else order[::-1]):
                case = Case(f"{net.name}:{name}", (*net.overrides, *METHODS[name]), steps, warmup)
                label = f"{net.name:<8} {name:<16} round {r + 1}/{args.rounds}"
                rates[name].append(measure(run_genbench, case, args, steps, warmup, label).steps_per_s)
        base = statistics.median(rates[BASELINE_METHOD])
        for name in order:
            rate = statistics.median(rates[name])
            results.append({"method": name, "net": net.name, "steps": steps, "steps_per_s": rates[name],
                            "median": rate, "baseline_median": base, "overhead": 1 - rate / base})
        results.append(conditioning_overhead(net, args, base))
    return results


def print_methods(results: list[dict]) -> None:
    header = f"{'method':<22} {'net':<8} {'G steps/s':>10} {'NS GAN steps/s':>15} {'overhead':>9}"
    print()
    print(header)
    print("-" * len(header))
    for res in results:
        if "eval_s" in res:
            print(f"{res['method']:<22} {res['net']:<8} {'':>10} {'':>15} {100 * res['overhead']:>8.1f}%"
                  f"  (one evaluation {res['eval_s']:.3f} s every {res['every']} steps)")
        else:
            print(f"{res['method']:<22} {res['net']:<8} {res['median']:>10.2f} {res['baseline_median']:>15.2f} "
                  f"{100 * res['overhead']:>8.1f}%")
    print(f"overhead: 1 - method/{BASELINE_METHOD} in genbench steps/s (median of rounds, same process); "
          "conditioning logging target <= 5%")


# --------------------------------------------------------------------------- driver
def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None,
                        help="timed generator steps per measurement (default per case: "
                        + ", ".join(f"{c.name} {c.steps}" for c in CASES.values()) + ")")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed generator steps before them (default per case: "
                        + ", ".join(f"{c.name} {c.warmup}" for c in CASES.values()) + ")")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per case (each a genbench run with the plain loop between its windows), "
                             "or measurements of each method")
    parser.add_argument("--window", type=int, default=None,
                        help="generator steps per paired window (default per case: "
                        + ", ".join(f"{c.name} {c.window}" for c in CASES.values()) + ")")
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads for both paths (default: all cores, here %(default)s)")
    parser.add_argument("--cases", default=DEFAULT_CASES,
                        help=f"comma-separated, from {', '.join(CASES)}; none for only --methods")
    parser.add_argument("--methods", default="",
                        help=f"comma-separated methods (or all) to time against {BASELINE_METHOD}: "
                        + ", ".join(METHODS))
    parser.add_argument("--nets", default=",".join(METHOD_NETS),
                        help=f"networks for --methods, from {', '.join(METHOD_NETS)}")
    parser.add_argument("--retries", type=int, default=2,
                        help="repeat a measurement up to this many times while other processes use the CPU")
    parser.add_argument("--busy-limit", type=float, default=0.25,
                        help="cores other processes may use during a measurement before it is repeated")
    parser.add_argument("--images", type=int, default=2048, help="in-memory random images for dcgan32")
    parser.add_argument("--steps-per-batch", type=int, default=None,
                        help="train.steps_per_batch for genbench's path (default: the config's, 25; 1: Lightning "
                             "runs every batch)")
    parser.add_argument("--no-callbacks", action="store_true", help="run genbench's Trainer without its callbacks")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where both paths train (cuda: hardware=gpu, one GPU)")
    parser.add_argument("--precision", choices=("32-true", "bf16-mixed"), default="32-true",
                        help="hardware.precision for genbench; bf16 autocast in the plain loop")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip() and c.strip() != "none"]
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    args.methods = list(METHODS) if args.methods == "all" else [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)} or all")
    args.nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    if not args.nets or set(args.nets) - set(METHOD_NETS):
        parser.error(f"--nets: choose from {', '.join(METHOD_NETS)}")
    if not args.cases and not args.methods:
        parser.error("nothing to measure: give --cases and/or --methods")
    for key in ("steps", "rounds", "threads", "images", "window"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            parser.error(f"--{key} must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        parser.error("--warmup must be at least 0")
    if args.retries < 0:
        parser.error("--retries must be at least 0")
    return args


def quiet() -> None:
    """Lightning's start-up notices and data-loader tips say nothing about throughput."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning.fabric", "genbench"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")


def measure(run, case: Case, args, steps: int, warmup: int, label: str) -> Measurement:
    """One measurement, repeated (up to --retries times) while other processes were using the CPU."""
    for attempt in range(args.retries + 1):
        m = run(case, args, steps, warmup)
        busy = "" if math.isnan(m.other_cores) else f"  (other processes: {m.other_cores:.2f} cores)"
        contended = m.other_cores > args.busy_limit
        again = "  busy machine: measuring again" if contended and attempt < args.retries else ""
        print(f"  {label}  {m.steps_per_s:9.2f} steps/s{busy}{again}", flush=True)
        if not contended:
            break
    return m


def same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a))


def median_interval(values: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A 95% bootstrap interval of the median of `values` (percentile method, fixed seed: reruns print the same
    interval for the same measurements)."""
    if len(values) < 2:
        return values[0], values[0]
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def bench_case(case: Case, args) -> dict:
    """`--rounds` paired rounds of a case (run_paired); a round during which other processes kept more than
    `--busy-limit` cores busy is measured again (up to `--retries` times)."""
    steps = args.steps if args.steps is not None else case.steps
    warmup = args.warmup if args.warmup is not None else case.warmup
    window = min(getattr(args, "window", None) or case.window or steps, steps)
    steps = (steps // window) * window  # whole windows: both paths end on the same step
    if warmup:  # the process's first steps of a case (allocator, oneDNN kernels) would count in round 1
        PlainLoop(case, args, warmup).advance(warmup)
    rounds: list[PairedRound] = []
    for r in range(args.rounds):
        for attempt in range(args.retries + 1):
            one = run_paired(case, args, steps, warmup, window)
            contended = one.other_cores > args.busy_limit
            again = "  busy machine: measuring again" if contended and attempt < args.retries else ""
            busy = "" if math.isnan(one.other_cores) else f"  (other processes: {one.other_cores:.2f} cores)"
            print(f"  {case.name:<10} round {r + 1}/{args.rounds}  plain {steps / sum(one.plain_s):9.2f} steps/s  "
                  f"genbench {steps / sum(one.genbench_s):9.2f} steps/s{busy}{again}", flush=True)
            if not contended:
                break
        rounds.append(one)
    w_gb, w_plain = rounds[0].weights
    if not same(w_plain, w_gb):
        raise RuntimeError(f"{case.name}: the two paths did not start from the same weights ({w_plain} vs {w_gb})")
    # Same seeds, batches, noise draws and operations: on a CPU both paths end on the same weights.
    same_trajectory = all(same(a, b) for one in rounds for a, b in [one.trained])
    g_ms = [1000 * t / window for one in rounds for t in one.genbench_s]
    p_ms = [1000 * t / window for one in rounds for t in one.plain_s]
    extra_ms = [g - p for g, p in zip(g_ms, p_ms, strict=True)]
    ratios = [p / g for g, p in zip(g_ms, p_ms, strict=True)]
    others = [one.other_cores for one in rounds if not math.isnan(one.other_cores)]
    ratio = statistics.median(ratios)
    return {"case": case.name, "steps": steps, "warmup": warmup, "rounds": args.rounds, "window": window,
            "windows": len(ratios),
            "plain_steps_per_s": [steps / sum(one.plain_s) for one in rounds],
            "genbench_steps_per_s": [steps / sum(one.genbench_s) for one in rounds],
            "plain_median": 1000 / statistics.median(p_ms), "genbench_median": 1000 / statistics.median(g_ms),
            "ratio": ratio, "overhead": 1 - ratio, "overhead_ms_per_step": statistics.median(extra_ms),
            "overhead_ms_interval": median_interval(extra_ms), "paired_ratios": ratios,
            "window_ms": {"plain": p_ms, "genbench": g_ms},
            "other_cores": [one.other_cores for one in rounds],
            "max_other_cores": max(others) if others else None, "same_trajectory": same_trajectory}


def print_table(results: list[dict], busy_limit: float) -> None:
    header = (f"{'case':<10} {'steps':>6} {'plain steps/s':>14} {'genbench steps/s':>17} {'ratio':>7} "
              f"{'overhead':>9} {'ms/step':>8} {'busy':>5}")
    print()
    print(header)
    print("-" * len(header))
    for res in results:
        busy = res["max_other_cores"]
        print(f"{res['case']:<10} {res['steps']:>6} {res['plain_median']:>14.2f} {res['genbench_median']:>17.2f} "
              f"{res['ratio']:>7.3f} {100 * res['overhead']:>8.1f}% {res['overhead_ms_per_step']:>8.3f} "
              + ("    ?" if busy is None else f"{busy:>5.2f}"))
    print("steps/s: the median window's; ratio and overhead: the median over paired windows (genbench's window, "
          "then the plain loop's) of plain/genbench time; ms/step: the median of genbench's extra time per "
          "generator step over the pairs; busy: the most cores other processes used during a kept round")
    print()
    for res in results:
        low, high = res["overhead_ms_interval"]
        print(f"{res['case']}: genbench/plain = {res['ratio']:.3f} (overhead {100 * res['overhead']:.1f}%); extra "
              f"{res['overhead_ms_per_step']:.3f} ms per generator step (95% interval {low:.3f} to {high:.3f}); "
              f"medians of {res['windows']} paired windows of {res['window']} steps in {res['rounds']} rounds")
    diverged = [res["case"] for res in results if not res["same_trajectory"]]
    print("same computation: " + (f"NO for {', '.join(diverged)}: the two paths ended on different weights"
                                  if diverged else "both paths ended every measurement on the same weights"))
    for res in results:
        if res["case"] == TARGET_CASE:
            verdict = "met" if res["overhead"] <= TARGET_OVERHEAD else "NOT met"
            print(f"target ({TARGET_CASE} overhead <= {100 * TARGET_OVERHEAD:.0f}%): {verdict}")
        if res["case"] in MLP_CASES:
            verdict = "met" if res["overhead_ms_per_step"] <= TARGET_MS else "NOT met"
            sure = " (the whole interval too)" if res["overhead_ms_interval"][1] <= TARGET_MS else ""
            print(f"target ({res['case']} extra <= {TARGET_MS} ms/step): {verdict}{sure}")
    noisy = [res["case"] for res in results if (res["max_other_cores"] or 0.0) > busy_limit]
    if noisy:
        print(f"warning: other processes used the CPU during measurements of {', '.join(noisy)}; "
              "those numbers are unreliable: run again on an idle machine")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    torch.set_num_threads(args.threads)
    env = {"python": platform.python_version(), "torch": torch.__version__, "pytorch_lightning": pl.__version__,
           "threads": args.threads, "cpus": os.cpu_count(), "machine": platform.machine(),
           "processor": platform.processor() or platform.machine(), "device": args.device,
           "precision": args.precision, "steps_per_batch": args.steps_per_batch or "the config's"}
    if args.device == "cuda":
        env["gpu"] = torch.cuda.get_device_name(0)
    print("bench_train: genbench (Hydra config + GANModule + Lightning Trainer) vs a plain PyTorch loop, "
          f"{args.device}, {args.precision}")
    print("  " + "  ".join(f"{k} {v}" for k, v in env.items()), flush=True)
    started = time.perf_counter()
    results = [bench_case(CASES[name], args) for name in args.cases]
    if results:
        print_table(results, args.busy_limit)
    methods = bench_methods(args.methods, args) if args.methods else []
    if methods:
        print_methods(methods)
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"env": env, "args": {k: v for k, v in vars(args).items() if k != "json"},
                                         "results": results, "methods": methods}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
