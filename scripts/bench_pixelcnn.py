"""PixelCNN benchmark: genbench's training path against a plain PyTorch loop, and the cost of sampling (the
autoregressive family's known weakness: 28 x 28 = 784 sequential steps per MNIST image).

What is compared
    Training, steps per second of
    * genbench: the config composed by Hydra (model=pixelcnn, Bernoulli pixels), genbench's data module, ARModule
      and a Lightning Trainer from genbench.runs.train with its callbacks (evaluation, samples, checkpoint) at
      intervals that do not fire inside the timed window, no logger;
    * plain: a hand-written loop over the same GatedPixelCNN (same config and seed, checked to start from the
      same weights), Adam, threads, batches (a shuffled in-memory uint8 tensor indexed per batch), dynamic
      binarization from a generator seeded like ARModule's, loss -log p(x), zero_grad, backward, step. On a CPU both
      end on the same weights: the script checks it.
    Sampling, seconds per 64 MNIST samples of that network, with the row cache (the vertical stack once per row,
    the horizontal stack per pixel on its row's columns <= j) and without it (the whole net per pixel); both from
    the same uniforms must give the same images.

    python scripts/bench_pixelcnn.py                                    # small net, CPU (a few minutes on 2 cores)
    python scripts/bench_pixelcnn.py --width 64 --layers 12 --batch 64 --device cuda   # the experiment's net
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import NEVER, CpuClock, Measurement, RandomImages, default_threads, fingerprint, quiet, same, timed_fit  # noqa: E402,I001
from hydra import compose, initialize_config_module  # noqa: E402

from genbench.autoregressive.pixelcnn import sample_pixels  # noqa: E402
from genbench.data.datamodule import GenDataModule  # noqa: E402
from genbench.modules.autoregressive import build  # noqa: E402
from genbench.modules.optim import implementation  # noqa: E402
from genbench.runs.train import build_module  # noqa: E402

SHAPE = (1, 28, 28)


def compose_config(args, max_steps: int):
    accelerator = ["hardware=gpu"] if args.device == "cuda" else []
    overrides = ["model=pixelcnn", "dataset=mnist", "model.output=bernoulli", f"model.nets.width={args.width}",
                 f"model.pixelcnn.layers={args.layers}", f"dataset.batch_size={args.batch}", "logger=none",
                 "metrics=none", f"hardware.threads={args.threads}", *accelerator, f"train.max_steps={max_steps}",
                 f"train.sample_every={NEVER}", f"train.checkpoint_every={NEVER}", f"eval.every={NEVER}"]
    with initialize_config_module("genbench.conf", version_base="1.3"):
        return compose("config", overrides=overrides)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def train_genbench(args, steps: int, warmup: int) -> Measurement:
    cfg = compose_config(args, warmup + steps)
    with tempfile.TemporaryDirectory(prefix="genbench-bench-") as tmp:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        data = GenDataModule(RandomImages(SHAPE, args.images, cfg.seed), cfg.dataset.batch_size, cfg.seed)
        data.setup("fit")
        module = build_module(cfg, data.shape)
        start = fingerprint(module.net)
        elapsed, other = timed_fit(cfg, data, module, Path(tmp), warmup, steps)
        return Measurement(steps / elapsed, other, start, fingerprint(module.net.cpu()))


def train_plain(args, steps: int, warmup: int) -> Measurement:
    cfg = compose_config(args, warmup + steps)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = build(cfg, SHAPE)  # the same construction and draws as genbench's
    net, out = module.net.to(args.device), module.likelihood
    start = fingerprint(net)
    data = RandomImages(SHAPE, args.images, cfg.seed).load("train").to(args.device)
    m = cfg.model.opt
    params = list(net.parameters())  # torch's Adam, with the implementation genbench's takes (same bits)
    opt = torch.optim.Adam(params, lr=float(m.lr), betas=tuple(m.betas), eps=float(m.eps),
                           **implementation("adam", params))
    shuffle = torch.Generator().manual_seed(cfg.seed)
    noise = torch.Generator(device=args.device).manual_seed(cfg.seed)
    batch, total, step, t0 = int(cfg.dataset.batch_size), warmup + steps, 0, CpuClock()
    while step < total:
        order = torch.randperm(len(data), generator=shuffle)
        for i in range(len(data) // batch):
            x = out.prepare(data[order[i * batch:(i + 1) * batch].to(args.device)], noise)
            loss = -out.log_prob(net(out.to_input(x)), x).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step == warmup:
                sync(args.device)
                t0 = CpuClock()
            if step == total:
                break
    sync(args.device)
    elapsed, other = t0.until(CpuClock())
    return Measurement(steps / elapsed, other, start, fingerprint(net.cpu()))


def bench_sampling(args) -> dict:
    cfg = compose_config(args, 1)
    torch.manual_seed(cfg.seed)
    module = build(cfg, SHAPE)
    net, out = module.net.to(args.device).eval(), module.likelihood
    u = torch.rand(args.samples, module.z_dim, generator=torch.Generator().manual_seed(0)).to(args.device)
    seconds, images = {}, {}
    for cache, n in ((True, args.samples), (False, min(args.samples, args.uncached_samples))):
        sync(args.device)
        t0 = time.perf_counter()
        images[cache] = sample_pixels(net, out, u[:n], SHAPE, cache=cache)
        sync(args.device)
        seconds[cache] = (time.perf_counter() - t0) * args.samples / n  # per `samples` images
        print(f"  sampling {n} images, cache={cache}: {seconds[cache] * n / args.samples:.1f} s", flush=True)
    n = len(images[False])
    return {"samples": args.samples, "uncached_measured_on": n, "cached_s": seconds[True],
            "uncached_s": seconds[False], "speedup": seconds[False] / seconds[True],
            "same_images": bool(torch.equal(images[True][:n], images[False]))}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=16, help="model.nets.width (the experiment: 64)")
    parser.add_argument("--layers", type=int, default=4, help="model.pixelcnn.layers (the experiment: 12)")
    parser.add_argument("--batch", type=int, default=16, help="dataset.batch_size (the experiment: 64)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per measurement")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each path; the median is reported")
    parser.add_argument("--samples", type=int, default=64, help="images per sampling measurement (0: skip)")
    parser.add_argument("--uncached-samples", type=int, default=4, help="images sampled without the cache (slow); "
                        "its time is scaled to --samples")
    parser.add_argument("--images", type=int, default=512, help="random in-memory training images")
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet()
    torch.set_num_threads(args.threads)
    env = {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
           "cpus": os.cpu_count(), "device": args.device,
           "processor": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()}
    print(f"bench_pixelcnn: width {args.width}, {args.layers} layers, batch {args.batch}, MNIST shape")
    print("  " + "  ".join(f"{k} {v}" for k, v in env.items()), flush=True)
    runs: dict[str, list[Measurement]] = {"genbench": [], "plain": []}
    for r in range(args.rounds):
        for path in (("genbench", "plain") if r % 2 == 0 else ("plain", "genbench")):
            m = (train_genbench if path == "genbench" else train_plain)(args, args.steps, args.warmup)
            print(f"  round {r + 1}/{args.rounds} {path:<8} {m.steps_per_s:8.3f} steps/s", flush=True)
            runs[path].append(m)
    if not same(runs["plain"][0].weights, runs["genbench"][0].weights):
        raise RuntimeError("the two paths did not start from the same weights")
    plain = statistics.median(m.steps_per_s for m in runs["plain"])
    gb = statistics.median(m.steps_per_s for m in runs["genbench"])
    training = {"plain_steps_per_s": plain, "genbench_steps_per_s": gb, "ratio": gb / plain,
                "same_trajectory": all(same(runs["plain"][0].trained, m.trained) for ms in runs.values() for m in ms)}
    sampling = bench_sampling(args) if args.samples else None
    print(f"\ntraining: plain {plain:.3f} steps/s, genbench {gb:.3f} steps/s, ratio {gb / plain:.3f}; "
          + ("both paths ended on the same weights" if training["same_trajectory"] else "DIFFERENT weights"))
    if sampling:
        print(f"sampling: {sampling['samples']} MNIST images (784 sequential steps): {sampling['cached_s']:.1f} s "
              f"with the row cache, {sampling['uncached_s']:.1f} s without (scaled from "
              f"{sampling['uncached_measured_on']}; {sampling['speedup']:.1f}x); "
              + ("the same images" if sampling["same_images"] else "DIFFERENT images"))
    if args.json:
        args.json.write_text(json.dumps({"env": env, "training": training, "sampling": sampling}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
