"""The dataset contract (`dataset=<name>`: its YAML's `_target_`). The data module (datamodule.py) batches,
shuffles and resumes; a dataset only says what its data is:

    name: str, is_image: bool, shape: tuple   ((2,) vectors, (C, H, W) images)
    load(split) -> Tensor                     the whole split in memory ("train", "test"), uint8 images or
                                              float vectors
    labels(split) -> Tensor | None            class labels (for the classifier extractor), None when there are
                                              none
and may add `log_prob(x)` (the toys with a known density: metrics=[toy_nll])."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Dataset(Protocol):
    is_image: bool
    shape: tuple

    def load(self, split: str = "train") -> torch.Tensor: ...

    def labels(self, split: str = "train") -> torch.Tensor | None: ...
