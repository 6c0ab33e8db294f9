"""One LightningDataModule for every dataset: in-memory tensors are batched by indexing, folders by a
DataLoader with workers.

Indexing a tensor that already sits in memory costs microseconds per batch, where a DataLoader's
per-sample collate costs milliseconds: that difference is most of the step time of a 2D GAN.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset


class TensorBatches:
    """Shuffled batches of rows of `data`, re-shuffled each epoch from a seeded generator.

    With several processes (DDP) each rank takes its own slice of the permutation.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if batch_size > len(data):
            raise ValueError(f"dataset.batch_size={batch_size} is larger than the dataset ({len(data)} items)")
        self.data, self.batch_size = data, batch_size
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator().manual_seed(seed)
        self.per_rank = len(data) // world_size

    def __len__(self) -> int:
        return self.per_rank // self.batch_size

    def __iter__(self):
        order = torch.randperm(len(self.data), generator=self.generator)
        order = order[self.rank * self.per_rank:(self.rank + 1) * self.per_rank]
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self.data[order[start:start + self.batch_size]]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class GenDataModule(pl.LightningDataModule):
    """Wraps a dataset object (toy, IDX, CIFAR, folder) for training."""

    def __init__(self, dataset, batch_size: int, seed: int, num_workers: int = 0):
        super().__init__()
        self.dataset, self.batch_size, self.seed, self.num_workers = dataset, batch_size, seed, num_workers
        self.train_data: torch.Tensor | Dataset | None = None
        self._other_splits: dict[str, torch.Tensor | Dataset] = {}

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dataset.shape)

    @property
    def is_image(self) -> bool:
        return bool(self.dataset.is_image)

    def prepare_data(self) -> None:
        pass  # reading happens in setup, on every rank; downloads are checked there too

    def setup(self, stage: str | None = None) -> None:
        if self.train_data is None:
            self.train_data = self.dataset.load("train")

    def train_dataloader(self):
        rank = self.trainer.global_rank if self.trainer is not None else 0
        world = self.trainer.world_size if self.trainer is not None else 1
        if isinstance(self.train_data, torch.Tensor):
            return TensorBatches(self.train_data, self.batch_size, self.seed, rank, world)
        return DataLoader(self.train_data, batch_size=self.batch_size, shuffle=True, drop_last=True,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.seed))

    def real_samples(self, n: int, split: str = "train") -> torch.Tensor:
        """`n` real items (first n of a fixed permutation), as the model sees them."""
        if split == "train":
            data = self.train_data
        else:  # read once: reading and md5-checking a split costs ~0.1 s per call
            data = self._other_splits.setdefault(split, self.dataset.load(split))
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(1234))[:n]
        if isinstance(data, torch.Tensor):
            return data[order]
        return torch.stack([data[int(i)] for i in order])
