"""VAE throughput benchmark: genbench's training path and NLL estimator against plain PyTorch, in the same run.

What is compared
    Training, generator (= training) steps per second of
    * genbench: the config composed by Hydra from genbench.conf, the data module, VAEModule and a Lightning
      Trainer built by genbench.runs.train, with genbench's callbacks (evaluation, samples, checkpoint, and the VAE's
      reconstructions/traversals) at intervals that do not fire inside the timed window, no logger;
    * plain: a hand-written loop over the same encoder, decoder and likelihood (built by genbench.vae from the
      same config and seed, checked to start from identical weights), the same objective, Adam settings,
      threads and batch source (a shuffled in-memory uint8 tensor indexed per batch, binarized with a generator
      seeded like VAEModule's), the same step: binarize, encode, sample k latents, decode, loss, zero_grad,
      backward, step. Seeds match, so on a CPU both paths end on the same weights: the script checks it.
    NLL estimation, (images x importance samples) per second of
    * genbench: the `nll` metric (genbench.metrics.nll: held-out targets, eval mode, the batched IWAE estimator);
    * plain: a hand-written loop with the same batching (at most `rows` latents per decoder pass), the same
      generator and draws; both must give the same estimate.
    Each round measures both paths (order alternating); the table reports the median over rounds.

How to read it
    Absolute numbers depend on the machine, its load and threads; the ratio genbench/plain, measured in the same
    process, is what carries over. As in bench_train.py, other processes on the machine spoil measurements:
    each reports the cores others kept busy and is repeated while that exceeds --busy-limit.

Cases (random uint8 images of MNIST's shape, (1, 28, 28), or CIFAR's, (3, 32, 32), in memory)
    vae        model=vae: MLP 784-400-(40, 40), Bernoulli decoder, batch 100, k = 1
    iwae       model=iwae: MLP 784-200-200-(50, 50) tanh, k = 50, batch 20
    conv_dl    model=vae model.nets.arch=conv model.likelihood.name=discretized_logistic, (3, 32, 32), batch 64
    NLL: the trained-from-init vae case's networks, k importance samples for n images (--nll-k, --nll-n).

    python scripts/bench_vae.py                         # all cases (a few minutes on 2 CPU cores)
    python scripts/bench_vae.py --cases vae --steps 300 --rounds 5 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import (  # noqa: E402  (shared machinery of the GAN benchmark, beside this file)
    NEVER,
    CpuClock,
    Measurement,
    RandomImages,
    default_threads,
    fingerprint,
    quiet,
    same,
    timed_fit,
)
from hydra import compose, initialize_config_module  # noqa: E402

from genbench.data.datamodule import GenDataModule  # noqa: E402
from genbench.metrics.base import EvalContext  # noqa: E402
from genbench.metrics.nll import ImportanceSampledNLL  # noqa: E402
from genbench.modules.optim import implementation  # noqa: E402
from genbench.runs.train import build_module  # noqa: E402
from genbench.vae.bounds import gaussian_kl, log_normal, log_standard_normal  # noqa: E402
from genbench.vae.likelihoods import build_likelihood  # noqa: E402
from genbench.vae.nets import build_encoder_decoder  # noqa: E402

CASES = {
    "vae": (("model=vae",), (1, 28, 28), 200, 20),
    "iwae": (("model=iwae",), (1, 28, 28), 100, 10),
    "conv_dl": (("model=vae", "model.nets.arch=conv", "model.likelihood.name=discretized_logistic",
                 "dataset=cifar10", "dataset.batch_size=64"), (3, 32, 32), 40, 5),
}  # name: (overrides, image shape, default timed steps, default warmup steps)


def compose_config(name: str, threads: int, max_steps: int):
    overrides = [*CASES[name][0], "logger=none", "metrics=none", f"hardware.threads={threads}",
                 f"train.max_steps={max_steps}", f"train.sample_every={NEVER}", f"train.checkpoint_every={NEVER}",
                 f"eval.every={NEVER}"]
    with initialize_config_module("genbench.conf", version_base="1.3"):
        return compose("config", overrides=overrides)


def make_data(cfg, name: str, n_images: int) -> GenDataModule:
    return GenDataModule(RandomImages(CASES[name][1], n_images, cfg.seed), cfg.dataset.batch_size, cfg.seed)


def weights(*nets) -> float:
    return sum(fingerprint(n) for n in nets)


# --------------------------------------------------------------------------- training
def train_genbench(name: str, args, steps: int, warmup: int) -> Measurement:
    cfg = compose_config(name, args.threads, warmup + steps)
    with tempfile.TemporaryDirectory(prefix="genbench-bench-") as tmp:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        data = make_data(cfg, name, args.images)
        data.setup("fit")
        module = build_module(cfg, data.shape)
        start = weights(module.encoder, module.decoder, module.likelihood)
        elapsed, other = timed_fit(cfg, data, module, Path(tmp), warmup, steps)
        return Measurement(steps / elapsed, other, start, weights(module.encoder, module.decoder, module.likelihood))


def train_plain(name: str, args, steps: int, warmup: int) -> Measurement:
    cfg = compose_config(name, args.threads, warmup + steps)
    m = cfg.model
    if m.opt.name != "adam" or m.get("lr_schedule"):
        raise ValueError("the plain loop implements Adam without a schedule")
    iwae = cfg.loss._target_.endswith(".IWAE")
    torch.manual_seed(cfg.seed)
    data = make_data(cfg, name, args.images).dataset.load("train")
    likelihood = build_likelihood(m.likelihood.name, CASES[name][1][0], m.likelihood.get("sigma"))
    encoder, decoder = build_encoder_decoder(m.nets, CASES[name][1], m.z_dim, likelihood.params_per_channel)
    start = weights(encoder, decoder, likelihood)
    params = [*encoder.parameters(), *decoder.parameters(), *likelihood.parameters()]
    opt = torch.optim.Adam(params, lr=float(m.opt.lr), betas=tuple(m.opt.betas), eps=float(m.opt.eps),
                           **implementation("adam", params))  # the implementation genbench's takes (same bits)
    shuffle, noise = torch.Generator().manual_seed(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    batch_size, k, beta = int(cfg.dataset.batch_size), int(m.k), float(m.beta)
    total, step, t0 = warmup + steps, 0, CpuClock()
    while step < total:
        order = torch.randperm(len(data), generator=shuffle)
        for i in range(len(data) // batch_size):
            x = likelihood.prepare(data[order[i * batch_size:(i + 1) * batch_size]], noise)
            mu, logvar = encoder(x).chunk(2, dim=-1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(k, *mu.shape)
            out = decoder(z.flatten(0, 1))
            log_px = likelihood.log_prob(out.view(k, len(x), *out.shape[1:]), x)
            if iwae:
                log_w = log_px + log_standard_normal(z) - log_normal(z, mu, logvar)
                loss = -(torch.logsumexp(log_w, 0) - math.log(k)).mean()
            else:
                loss = (-log_px.mean(0) + beta * gaussian_kl(mu, logvar).sum(-1)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step == warmup:
                t0 = CpuClock()
            if step == total:
                break
    elapsed, other = t0.until(CpuClock())
    if not torch.isfinite(loss.detach()):
        raise RuntimeError(f"plain loop of {name}: non-finite loss")
    return Measurement(steps / elapsed, other, start, weights(encoder, decoder, likelihood))


# --------------------------------------------------------------------------- NLL estimation
def nll_module(args):
    cfg = compose_config("vae", args.threads, 1)
    pl.seed_everything(cfg.seed, verbose=False)
    data = make_data(cfg, "vae", max(args.images, args.nll_n))
    data.setup("fit")
    return build_module(cfg, data.shape), data


def nll_genbench(module, data, args) -> tuple[float, float, float]:
    """(images x samples per second, estimate, cores used by others)."""
    metric = ImportanceSampledNLL(k=args.nll_k, n=args.nll_n, rows=args.rows)
    t0 = CpuClock()
    value = metric(None, data, EvalContext(module=module))["nll/value"]
    elapsed, other = t0.until(CpuClock())
    return args.nll_n * args.nll_k / elapsed, value, other


@torch.no_grad()
def nll_plain(module, data, args) -> tuple[float, float, float]:
    encoder, decoder = module.encoder.eval(), module.decoder.eval()
    k, rows = args.nll_k, args.rows
    t0 = CpuClock()
    rng = torch.Generator().manual_seed(0)
    x = torch.bernoulli(data.real_samples(args.nll_n, "test").float() / 255, generator=rng)
    chunk = min(k, rows)
    total = []
    for xb in x.split(max(1, rows // chunk)):
        mu, logvar = encoder(xb).chunk(2, dim=-1)
        log_w = []
        for done in range(0, k, chunk):
            c = min(chunk, k - done)
            z = mu + torch.exp(0.5 * logvar) * torch.randn((c, *mu.shape), generator=rng)
            logits = decoder(z.flatten(0, 1)).view(c, len(xb), -1)
            log_px = -F.binary_cross_entropy_with_logits(logits, xb.flatten(1).expand_as(logits),
                                                         reduction="none").sum(-1)
            log_w.append(log_px + log_standard_normal(z) - log_normal(z, mu, logvar))
        total.append(torch.logsumexp(torch.cat(log_w), 0) - math.log(k))
    value = float(-torch.cat(total).double().mean())
    elapsed, other = t0.until(CpuClock())
    module.train()
    return args.nll_n * k / elapsed, value, other


# --------------------------------------------------------------------------- driver
def repeat(run, label: str, args):
    for attempt in range(args.retries + 1):
        result = run()
        other = result.other_cores if isinstance(result, Measurement) else result[2]
        rate = result.steps_per_s if isinstance(result, Measurement) else result[0]
        again = "  busy machine: measuring again" if other > args.busy_limit and attempt < args.retries else ""
        busy = "" if math.isnan(other) else f"  (other processes: {other:.2f} cores)"
        print(f"  {label}  {rate:12.1f}/s{busy}{again}", flush=True)
        if not other > args.busy_limit:
            break
    return result


def bench_training(name: str, args) -> dict:
    steps = args.steps or CASES[name][2]
    warmup = CASES[name][3] if args.warmup is None else args.warmup
    runs: dict[str, list[Measurement]] = {"plain": [], "genbench": []}
    runners = {"genbench": train_genbench, "plain": train_plain}
    for r in range(args.rounds):
        for path in (("genbench", "plain") if r % 2 == 0 else ("plain", "genbench")):
            label = f"{name:<8} round {r + 1}/{args.rounds} {path:<8} steps"
            runs[path].append(repeat(lambda p=path: runners[p](name, args, steps, warmup), label, args))
    if not same(runs["plain"][0].weights, runs["genbench"][0].weights):
        raise RuntimeError(f"{name}: the two paths did not start from the same weights")
    same_weights = all(same(runs["plain"][0].trained, m.trained) for ms in runs.values() for m in ms)
    plain = statistics.median(m.steps_per_s for m in runs["plain"])
    gb = statistics.median(m.steps_per_s for m in runs["genbench"])
    return {"case": name, "steps": steps, "plain_steps_per_s": plain, "genbench_steps_per_s": gb,
            "ratio": gb / plain, "overhead_ms_per_step": 1000 * (1 / gb - 1 / plain), "same_trajectory": same_weights,
            "max_other_cores": max((m.other_cores for ms in runs.values() for m in ms
                                    if not math.isnan(m.other_cores)), default=None)}


def bench_nll(args) -> dict:
    module, data = nll_module(args)
    rates: dict[str, list[float]] = {"plain": [], "genbench": []}
    values: dict[str, float] = {}
    runners = {"genbench": nll_genbench, "plain": nll_plain}
    for r in range(args.rounds):
        for path in (("genbench", "plain") if r % 2 == 0 else ("plain", "genbench")):
            label = f"nll      round {r + 1}/{args.rounds} {path:<8} images*k"
            rate, value, _ = repeat(lambda p=path: runners[p](module, data, args), label, args)
            rates[path].append(rate)
            values[path] = value
    plain, gb = statistics.median(rates["plain"]), statistics.median(rates["genbench"])
    return {"k": args.nll_k, "n": args.nll_n, "rows": args.rows, "plain_per_s": plain, "genbench_per_s": gb,
            "ratio": gb / plain, "estimates": values,
            "same_estimate": abs(values["plain"] - values["genbench"]) <= 1e-4 * abs(values["plain"])}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help=f"training cases, from {', '.join(CASES)}; "
                        "'none' for none")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per training measurement")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps before them")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each path; the median is reported")
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--images", type=int, default=2000, help="random in-memory images for training")
    parser.add_argument("--nll-k", type=int, default=1000, help="importance samples per image (0: skip NLL)")
    parser.add_argument("--nll-n", type=int, default=100, help="held-out images for the NLL estimate")
    parser.add_argument("--rows", type=int, default=2000, help="images x samples per decoder pass (the nll default)")
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--busy-limit", type=float, default=0.25)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    args.cases = [] if args.cases == "none" else [c.strip() for c in args.cases.split(",") if c.strip()]
    if any(c not in CASES for c in args.cases):
        parser.error(f"--cases: choose from {', '.join(CASES)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet()
    torch.set_num_threads(args.threads)
    env = {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
           "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    print("bench_vae: genbench (Hydra config + VAEModule + Lightning Trainer; nll metric) vs plain PyTorch, CPU")
    print("  " + "  ".join(f"{k} {v}" for k, v in env.items()), flush=True)
    started = time.perf_counter()
    training = [bench_training(name, args) for name in args.cases]
    nll = bench_nll(args) if args.nll_k > 0 else None
    print()
    if training:
        print(f"{'case':<8} {'steps':>6} {'plain steps/s':>14} {'genbench steps/s':>17} {'ratio':>7} {'ms/step':>8}")
        for res in training:
            print(f"{res['case']:<8} {res['steps']:>6} {res['plain_steps_per_s']:>14.2f} "
                  f"{res['genbench_steps_per_s']:>17.2f} {res['ratio']:>7.3f} {res['overhead_ms_per_step']:>8.3f}")
        diverged = [r["case"] for r in training if not r["same_trajectory"]]
        print("same computation: " + (f"NO for {', '.join(diverged)}" if diverged
                                      else "both paths ended every measurement on the same weights"))
    if nll:
        print(f"\nNLL estimation, k = {nll['k']}, n = {nll['n']} images, {nll['rows']} latents per decoder pass:")
        print(f"  plain {nll['plain_per_s']:.0f} images*k/s, genbench {nll['genbench_per_s']:.0f} images*k/s, "
              f"ratio {nll['ratio']:.3f}; estimates {nll['estimates']['genbench']:.4f} (genbench), "
              f"{nll['estimates']['plain']:.4f} (plain): " + ("the same" if nll["same_estimate"] else "DIFFERENT"))
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"env": env, "training": training, "nll": nll}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
