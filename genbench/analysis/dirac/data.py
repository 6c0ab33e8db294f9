"""The data of the Dirac-GAN (Mescheder et al. 2018): a Dirac at `center` (0), i.e. a tensor of
identical one-dimensional points. `n` only sets how many rows a batch can take. float64, like the two
players (genbench/nets/dirac.py)."""

from __future__ import annotations

import torch


class DiracData:
    is_image = False
    shape = (1,)
    modes = None

    def __init__(self, center: float = 0.0, n: int = 65536, seed: int = 0):
        self.center, self.n = float(center), int(n)

    def load(self, split: str = "train") -> torch.Tensor:
        return torch.full((self.n, 1), self.center, dtype=torch.float64)

    def labels(self, split: str = "train") -> None:
        return None
