"""One LightningDataModule for every dataset: in-memory tensors are batched by indexing, folders by a
DataLoader with workers.

Indexing a tensor that already sits in memory costs microseconds per batch, where a DataLoader's
per-sample collate costs milliseconds: that difference is most of the step time of a 2D GAN.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from genbench.errors import ConfigError
from genbench.runs.step_chunks import batches_per_call

ON_DEVICE_MAX_BYTES = 2 << 30  # in-memory training data up to 2 GiB moves to the GPU once


def rank_batch(batch_size: int, world_size: int) -> int:
    """One rank's rows of the global batch `batch_size`, which must split evenly over the ranks."""
    if batch_size % world_size:
        raise ConfigError(f"dataset.batch_size={batch_size} is the global batch of {world_size} ranks: it must "
                          f"be a multiple of {world_size}")
    return batch_size // world_size


class TensorBatches:
    """Shuffled global batches of rows of `data`, re-shuffled each epoch from a seeded generator, endlessly (the
    module stops at its budget).

    `batch_size` is the global batch (all ranks together). Global batch i is rows [i*B, (i+1)*B) of the epoch's
    permutation; rank r takes its contiguous share [i*B + r*b, i*B + (r+1)*b), b = B / W, so W ranks together see
    exactly the batches one rank would. `skip` batches are passed over first (drawing the permutations of the
    epochs they span), so a resumed run sees exactly the batches an uninterrupted one would have seen. With
    `chunk` > 1, `chunk` consecutive batches come as one list (genbench/runs/step_chunks.py), across epochs; the
    first list has `first` batches when that is not 0 (a run resumed off the lists' grid).
    """

    def __init__(self, data: torch.Tensor, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 skip: int = 0, chunk: int = 1, first: int = 0):
        if batch_size > len(data):
            raise ConfigError(f"dataset.batch_size={batch_size} is larger than the dataset ({len(data)} items): "
                              f"choose at most {len(data)}")
        self.data, self.batch_size = data, batch_size
        self.rank, self.world_size = rank, world_size
        self.local = rank_batch(batch_size, world_size)
        self.generator = torch.Generator().manual_seed(seed)
        self.skip, self.chunk, self.first = skip, chunk, first

    def batches(self):
        """This rank's batches, one after another, epoch after epoch."""
        per_epoch = len(self.data) // self.batch_size
        epochs, offset = divmod(self.skip, per_epoch)
        self.skip = 0
        for _ in range(epochs):
            torch.randperm(len(self.data), generator=self.generator)
        while True:
            order = torch.randperm(len(self.data), generator=self.generator)
            for start in range(offset * self.batch_size, per_epoch * self.batch_size, self.batch_size):
                mine = start + self.rank * self.local
                yield self.data[order[mine:mine + self.local]]
            offset = 0

    def __iter__(self):
        if self.chunk == 1:
            yield from self.batches()
            return
        batches = self.batches()
        if self.first:
            yield [next(batches) for _ in range(self.first)]
        while True:
            yield [next(batches) for _ in range(self.chunk)]


class GenDataModule(pl.LightningDataModule):
    """Wraps a dataset object (toy, IDX, CIFAR, folder) for training.

    It counts the training batches handed to the model and keeps the count in checkpoints: a resumed run
    of in-memory data continues with the next batch of the same permutation (image folders restart the
    epoch's shuffle). In-memory data comes up to `steps_per_batch` generator steps' batches at a time
    (genbench/runs/step_chunks.py)."""

    def __init__(self, dataset, batch_size: int, seed: int, num_workers: int = 0, steps_per_batch: int = 1):
        super().__init__()
        self.dataset, self.batch_size, self.seed, self.num_workers = dataset, batch_size, seed, num_workers
        self.steps_per_batch = steps_per_batch
        self.train_data: torch.Tensor | Dataset | None = None
        self._other_splits: dict[str, torch.Tensor | Dataset] = {}
        self.batches_seen = 0  # training batches handed to the model (prefetched ones not counted)
        self._skip = 0         # batches to pass over after a resume

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer is not None and self.trainer.training:
            self.batches_seen += len(batch) if isinstance(batch, list) else 1
        return batch

    def hand_back(self, n: int) -> None:
        """The module stopped `n` batches before the end of the list it was given (a signal: training_step)."""
        self.batches_seen -= n

    def state_dict(self) -> dict:
        return {"batches_seen": self.batches_seen}

    def load_state_dict(self, state: dict) -> None:
        self.batches_seen = self._skip = int(state.get("batches_seen", 0))

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
            if self.batch_size > len(self.train_data):
                raise ConfigError(f"dataset.batch_size={self.batch_size} is larger than the training split "
                                  f"({len(self.train_data)} items): choose at most {len(self.train_data)}")

    def train_dataloader(self):
        rank = self.trainer.global_rank if self.trainer is not None else 0
        world = self.trainer.world_size if self.trainer is not None else 1
        if isinstance(self.train_data, torch.Tensor):
            skip, self._skip = self._skip, 0
            chunk, first = batches_per_call(self.trainer, self.steps_per_batch) if self.trainer is not None else (1, 0)
            return TensorBatches(self._on_device(self.train_data), self.batch_size, self.seed, rank, world, skip, chunk,
                                 first)
        # Lightning gives each rank a DistributedSampler: rank r's batch i holds its share of global batch i
        return DataLoader(self.train_data, batch_size=rank_batch(self.batch_size, world), shuffle=True, drop_last=True,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.seed))

    def _on_device(self, data: torch.Tensor) -> torch.Tensor:
        """In-memory data on the GPU once, when it fits comfortably: batches are then indexed where they train."""
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if device.type == "cuda" and data.numel() * data.element_size() <= ON_DEVICE_MAX_BYTES:
            return data.to(device)
        return data

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
