"""The random stream of a module's data noise (binarization, dequantization) for the VAEs and the density models:
seeded by `seed`, separate from the training stream, and saved in every checkpoint with the counters, so a
resumed run draws the same noise as the uninterrupted one. A mixin before GenerativeModule in the bases; the
module sets `self.seed`."""

from __future__ import annotations

import torch


class DataNoise:
    _data_rng: torch.Generator | None = None
    _data_rng_state: torch.Tensor | None = None

    def data_rng(self) -> torch.Generator:
        """The generator of the data noise, on the module's device."""
        if self._data_rng is None or self._data_rng.device != self.device:
            rng = torch.Generator(device=self.device)
            rng.manual_seed(self.seed)
            if self._data_rng_state is not None:
                try:
                    rng.set_state(self._data_rng_state)
                except RuntimeError:  # saved on another kind of device: a fresh stream for the rest of the run
                    rng.manual_seed(self.seed + self.g_step)
            self._data_rng = rng
        return self._data_rng

    def counters(self) -> dict:
        state = self._data_rng.get_state() if self._data_rng is not None else self._data_rng_state
        return {**super().counters(), "data_rng": state}

    def load_counters(self, state: dict) -> None:
        super().load_counters(state)
        self._data_rng, self._data_rng_state = None, state.get("data_rng")
