"""The IWAE objective (Burda et al. 2015): minimize -log (1/k) sum_i w_i over k posterior samples per example
(model.k), w_i = p(x, z_i) / q(z_i | x); a tighter bound than the ELBO for k > 1, equal to it for k = 1."""

from __future__ import annotations

import torch

from genbench.vae.bounds import Terms


class IWAE:
    def __init__(self, family: str = "vae"):
        pass  # family: the model family this objective trains (the config checks compare it with model.family)

    def __call__(self, terms: Terms) -> torch.Tensor:
        return -terms.iwae().mean()
