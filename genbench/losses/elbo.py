"""The (beta-)VAE objective: minimize D + beta * R per example, averaged over the batch (Kingma & Welling
2013 at beta = 1; Higgins et al. 2017's beta-VAE; Alemi et al. 2018: beta picks a point on the rate-distortion
curve). With model.k > 1 the distortion is the mean over k posterior samples."""

from __future__ import annotations

import torch

from genbench.vae.bounds import Terms


class ELBO:
    def __init__(self, beta: float = 1.0, family: str = "vae"):
        # family: the model family this objective trains (the config checks compare it with model.family)
        self.beta = float(beta)

    def __call__(self, terms: Terms) -> torch.Tensor:
        return (terms.distortion + self.beta * terms.rate).mean()
