"""A small CNN classifier trained on the dataset itself: a fast feature extractor for digit data.

Why: Inception runs ~5 images/s on a small CPU and was trained on photographs; MNIST GAN papers score
FID and IS with a classifier of the dataset's own classes instead. genbench trains one once per
(dataset, image shape, training settings) with a fixed seed, reports its test accuracy, and caches it
under `<cache_dir>/classifiers/`. Features: the 128-d penultimate layer (FID/KID/PRDC); logits: the
class scores (IS, at most the number of classes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genbench.progress import Stage
from genbench.runs.run_dir import atomic_write

log = logging.getLogger("genbench")

VERSION = 1  # bump when the network or training recipe changes: old cache files are then not reused


class DigitNet(nn.Module):
    """conv(w)-pool-conv(2w)-pool-conv(4w)-avgpool to 2x2-fc128-fc(classes), w = 32; takes any size >= 8."""

    def __init__(self, channels: int, classes: int = 10, width: int = 32, feature_dim: int = 128):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(16 * w, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, classes)

    def forward(self, x):
        f = self.body(x)
        return f, self.head(f)


def to_input(images: torch.Tensor) -> torch.Tensor:
    if images.dtype != torch.uint8:
        raise TypeError(f"the classifier takes uint8 images, got {images.dtype}")
    return images.float() * (2.0 / 255.0) - 1.0


@torch.inference_mode()
def accuracy(net: DigitNet, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    net.eval()
    correct = 0
    for s in range(0, len(images), batch_size):
        _, logits = net(to_input(images[s:s + batch_size]))
        correct += int((logits.argmax(1) == labels[s:s + batch_size]).sum())
    return correct / max(1, len(images))


def train_classifier(train_x, train_y, test_x, test_y, epochs: int = 2, batch_size: int = 128, lr: float = 2e-3,
                     seed: int = 0, train_size: int | None = None, width: int = 32) -> tuple[DigitNet, float]:
    """Adam with a one-cycle-ish linear decay; a fixed seed gives the same network on the same machine."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = DigitNet(train_x.shape[1], classes=int(max(train_y.max(), test_y.max())) + 1, width=width)
    if train_size:
        keep = torch.randperm(len(train_x), generator=gen)[:train_size]
        train_x, train_y = train_x[keep], train_y[keep]
    steps = epochs * (len(train_x) // batch_size)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / max(1, steps))
    net.train()
    stage = Stage("training the classifier extractor", total=steps, unit="batches")
    for _ in range(epochs):
        order = torch.randperm(len(train_x), generator=gen)
        for s in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[s:s + batch_size]
            x = to_input(train_x[idx])
            # a one-pixel random shift: cheap augmentation that helps the last fraction of a percent
            dx, dy = torch.randint(-1, 2, (2,), generator=gen).tolist()
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            _, logits = net(x)
            loss = F.cross_entropy(logits, train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            stage.advance(1, note=f"loss {loss.item():.3g}" if stage.done % 50 == 0 else None)  # .item() syncs
    stage.close()
    acc = accuracy(net, test_x, test_y)
    return net.eval().requires_grad_(False), acc


class ClassifierExtractor:
    """uint8 images -> {"pool": 128-d features, "logits": class scores}, from a cached DigitNet."""

    name = "classifier"

    def __init__(self, dataset, cache_dir: str | Path, epochs: int = 2, batch_size: int = 128,
                 train_size: int | None = None, seed: int = 0, width: int = 32):
        if not hasattr(dataset, "labels"):
            raise ValueError(f"eval.extractor=classifier needs a labelled dataset (MNIST, Fashion-MNIST, "
                             f"CIFAR-10); {getattr(dataset, 'name', dataset)} has no labels: use "
                             "eval.extractor=inception")
        self.recipe = {"version": VERSION, "dataset": getattr(dataset, "name", type(dataset).__name__),
                       "shape": list(dataset.shape), "epochs": int(epochs), "batch_size": int(batch_size),
                       "train_size": train_size, "seed": int(seed), "width": int(width)}
        key = hashlib.sha256(json.dumps(self.recipe, sort_keys=True).encode()).hexdigest()[:16]
        shape = "x".join(map(str, dataset.shape))
        self.path = Path(cache_dir).expanduser() / "classifiers" / f"{self.recipe['dataset']}-{shape}-{key}.pt"
        self.net, self.test_accuracy = self._load_or_train(dataset)
        log.info("classifier extractor %s: test accuracy %.2f%%", self.path.name, 100 * self.test_accuracy)

    def _load_or_train(self, dataset) -> tuple[DigitNet, float]:
        if self.path.is_file():
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
            if saved.get("recipe") == self.recipe:
                net = DigitNet(self.recipe["shape"][0], classes=saved["classes"], width=self.recipe["width"])
                net.load_state_dict(saved["state_dict"])
                return net.eval().requires_grad_(False), float(saved["test_accuracy"])
            log.warning("%s holds another recipe: training again", self.path)
        log.info("training the %s classifier for the feature metrics (once; cached in %s)",
                 self.recipe["dataset"], self.path.parent)
        start = time.perf_counter()
        net, acc = train_classifier(dataset.load("train"), dataset.labels("train"), dataset.load("test"),
                                    dataset.labels("test"), epochs=self.recipe["epochs"],
                                    batch_size=self.recipe["batch_size"], seed=self.recipe["seed"],
                                    train_size=self.recipe["train_size"], width=self.recipe["width"])
        log.info("classifier trained in %.0f s: test accuracy %.2f%%", time.perf_counter() - start, 100 * acc)
        saved = {"recipe": self.recipe, "classes": net.head.out_features, "state_dict": net.state_dict(),
                 "test_accuracy": acc}
        atomic_write(self.path, lambda tmp: torch.save(saved, tmp))
        return net, acc

    has_logits = True

    @property
    def identity(self) -> dict:
        return {"extractor": "classifier", "recipe": self.recipe, "test_accuracy": self.test_accuracy}

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, batch_size: int = 1000) -> dict[str, torch.Tensor]:
        pools, logits = [], []
        with Stage("classifier features", total=len(images), unit="images") as stage:
            for s in range(0, len(images), batch_size):
                f, lg = self.net(to_input(images[s:s + batch_size]))
                pools.append(f)
                logits.append(lg)
                stage.advance(len(f))
        return {"pool": torch.cat(pools), "logits": torch.cat(logits)}
