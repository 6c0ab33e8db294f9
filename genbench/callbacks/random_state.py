"""The random number generators' states in every checkpoint, restored when a resumed run starts training;
a fresh run seeds them right before its first batch.

Why: the noise each step draws comes from torch's global generator. Without its state a resumed run draws
different noise from the step it resumes at, and ends elsewhere than the same run uninterrupted.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.seed import _collect_rng_states, _set_rng_states


class RandomState(pl.Callback):
    """Saves torch (CPU and CUDA), numpy and Python states; restores them in on_train_start, the last hook
    before the first batch, so nothing done while restoring the run draws from them afterwards."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._loaded: dict | None = None

    def state_dict(self) -> dict:
        states = _collect_rng_states(include_cuda=True)
        if "numpy" in states:  # as a tensor: checkpoints load with torch.load(weights_only=True)
            name, keys, *rest = states["numpy"]
            states["numpy"] = (name, torch.from_numpy(keys.astype("int64")), *rest)
        return {"rng": states}

    def load_state_dict(self, state_dict: dict) -> None:
        self._loaded = state_dict.get("rng")

    def on_train_start(self, trainer, module) -> None:
        if self._loaded is None:  # a fresh run: the stream starts here, after Lightning's setup, on every rank
            # (Lightning's DDP setup re-seeds but a single process does not: without this, one and several
            # ranks would draw different noise from the same seed)
            pl.seed_everything(self.seed, workers=True, verbose=False)
        if self._loaded is not None:
            states = dict(self._loaded)
            if "numpy" in states:
                name, keys, *rest = states["numpy"]
                states["numpy"] = (name, keys.numpy().astype("uint32"), *rest)
            gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if len(states.get("torch.cuda", [])) != gpus:  # resumed on another number of GPUs: keep theirs
                states.pop("torch.cuda", None)
            _set_rng_states(states)
            self._loaded = None
