"""Record FID(MNIST train 1k, MNIST test 1k) with a chosen extractor: run once, the number goes in docs/metrics.md.

    python scripts/mnist_fid.py --extractor inception \
        --weights ../shared/data/inception/pt_inception-2015-12-05_pool3_nofc.pth
    python scripts/mnist_fid.py --extractor classifier

The images are the first n of genbench's fixed permutation (seed 1234) of each split, at 28x28, grey repeated
to RGB and resized to 299x299 for Inception. Inception takes ~5 images/s on a 2-core CPU: ~7 minutes for 2k.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from genbench.data.datamodule import GenDataModule
from genbench.data.idx import MNIST
from genbench.features import FeatureBank
from genbench.metrics.fid import fid_from_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extractor", default="inception", choices=["inception", "classifier"])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--root", default=os.path.join(os.environ.get("GENBENCH_DATA", "../shared/data"), "mnist"))
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    data = GenDataModule(MNIST(str(Path(args.root)), download=False), batch_size=64, seed=0)
    data.setup()
    start = time.perf_counter()
    train = FeatureBank(args.extractor, args.cache_dir, args.weights, split="train").reference(data, args.n)
    test = FeatureBank(args.extractor, args.cache_dir, args.weights, split="test").reference(data, args.n)
    fid = fid_from_features(train["pool"], test["pool"])
    print(f"FID(MNIST train {args.n}, MNIST test {args.n}) with {args.extractor}: {fid:.4f} "
          f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
