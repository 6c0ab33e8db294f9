"""Inception-v3 feature throughput (images/s) on this machine: genbench's extractor against a naive eager loop,
in the same run, with the floor the FLOP count puts on the time per image.

- naive: float32 channels-first, autograd on (no inference mode), one image at a time.
- genbench: `InceptionExtractor` (inference mode, batches of --batch, channels-last), uint8 28x28 input
  resized to 299x299 as in the FID protocol (the resize is included in its time).

    python scripts/bench_inception.py --weights ../shared/data/inception/pt_inception-2015-12-05_pool3_nofc.pth
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from genbench.features.inception import InceptionExtractor, InceptionV3, load_inception, preprocess


def count_flops(net: InceptionV3) -> float:
    """Multiply-adds x 2 of every convolution and the pooling-free linear layers, at 299x299."""
    total = 0.0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += 2.0 * output.numel() / output.shape[0] * k
        elif isinstance(module, torch.nn.Linear):
            total += 2.0 * module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (torch.nn.Conv2d,
                                                                                          torch.nn.Linear))]
    with torch.inference_mode():
        net(torch.zeros(1, 3, 299, 299))
    for h in handles:
        h.remove()
    return total


def peak_gflops(seconds: float = 1.0) -> float:
    """Measured float32 matmul rate: the best this CPU does on large dense products."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return n * 2 * 1024 ** 3 / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--n", type=int, default=32, help="images per measurement")
    parser.add_argument("--batch", type=int, default=8, help="8 beats 32 on a 2-core CPU (cache)")
    args = parser.parse_args()
    images = torch.randint(0, 256, (args.n, 1, 28, 28), generator=torch.Generator().manual_seed(0),
                           dtype=torch.uint8)
    naive_net = load_inception(args.weights)[0].train(False)
    naive_net.requires_grad_(True)  # as a plain eval loop leaves it

    def naive() -> None:
        for img in images:
            x = F.interpolate(img[None].float().expand(-1, 3, -1, -1), size=(299, 299), mode="bilinear",
                              align_corners=False) / 127.5 - 1
            naive_net(x)

    ext = InceptionExtractor(args.weights, batch_size=args.batch)
    naive_net(preprocess(images[:1]))  # warm-up both
    ext(images[:2])
    results = {}
    for name, fn in (("naive eager loop", naive), ("genbench extractor", lambda: ext(images))):
        start = time.perf_counter()
        fn()
        results[name] = args.n / (time.perf_counter() - start)
    flops = count_flops(InceptionV3(logits=False).eval())
    peak = peak_gflops()
    floor = args.n * flops / (peak * 1e9)
    print(f"threads {torch.get_num_threads()}, {args.n} images, batch {args.batch}")
    for name, rate in results.items():
        print(f"{name:20s} {rate:7.2f} images/s")
    print(f"ratio genbench / naive: {results['genbench extractor'] / results['naive eager loop']:.2f}x")
    print(f"FLOPs per image at 299x299: {flops / 1e9:.2f} GFLOP; measured matmul peak {peak:.1f} GFLOP/s "
          f"-> floor {floor / args.n * 1e3:.0f} ms/image, at most {args.n / floor:.1f} images/s")


if __name__ == "__main__":
    main()
