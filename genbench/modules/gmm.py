"""GMMModule (`model=gmm`): a mixture model, the seed's tractable baseline (eq. 1.17), trained by maximum likelihood.

`model.fit=gradient`: Adam on -log q(x) of each batch, every parameter unconstrained (softmax weights, a Cholesky
factor with a softplus diagonal); `model.fit=em`: stepwise EM (Cappe & Moulines 2009) on the same batches, the
sufficient statistics averaged with step size (t + 2)^-`em_decay` and kept in the checkpoint. Components: Gaussian
(`covariance: full | diag`) on 2D toys and dequantized images; products of Bernoullis on binarized images
(`image_data=binarize`). Means start at k-means++ centres of training data.

Each step is one generator step. Logged: train/nll (nats per example), train/bits_per_dim (images),
grad_norm/gmm (gradient). Samples are exact draws: z = (u, eps), u picks the component, eps its noise.
"""

from __future__ import annotations

import torch
from omegaconf import OmegaConf
from torch import nn

from genbench.density.mixture import BernoulliMixture, GaussianMixture
from genbench.density.module import DensityModule
from genbench.modules.base import grad_norm
from genbench.modules.optim import make_optimizer


class MixtureSampler(nn.Module):
    """z -> a model-space sample of the mixture."""

    def __init__(self, module: GMMModule):
        super().__init__()
        self.mixture, self._to_samples = module.mixture, module.to_samples

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._to_samples(self.mixture.sample(z))


class GMMModule(DensityModule):
    def __init__(self, shape: tuple[int, ...], *, components: int, covariance: str, min_std: float, fit: str,
                 em_decay: float, image_data: str, opt: dict, max_steps: int, log_every: int, seed: int = 0):
        dim = int(torch.Size(shape).numel())
        super().__init__(shape, image_data=image_data, z_dim=dim + 1, max_steps=max_steps, log_every=log_every,
                         seed=seed)
        if self.is_image and image_data == "binarize":
            self.mixture = BernoulliMixture(components, dim)
        else:
            self.mixture = GaussianMixture(components, dim, covariance, min_std)
        self.fit, self.em_decay, self.opt_cfg = fit, float(em_decay), dict(opt)
        self._em_stats: list[torch.Tensor] | None = None

    def configure_optimizers(self):
        return make_optimizer(self.opt_cfg, self.parameters())

    def init_from_data(self, points, generator) -> None:
        self.mixture.init_from_data(points, generator)

    def log_density(self, points: torch.Tensor) -> torch.Tensor:
        return self.mixture.log_prob(points)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.mixture.noise(n, generator, device=self.device)

    @property
    def sampler(self) -> nn.Module:
        return MixtureSampler(self)

    # ----------------------------------------------------------------- EM statistics in the checkpoint
    def counters(self) -> dict:
        stats = [s.cpu() for s in self._em_stats] if self._em_stats is not None else None
        return {**super().counters(), "em_stats": stats}

    def load_counters(self, state: dict) -> None:
        super().load_counters(state)
        stats = state.get("em_stats")
        self._em_stats = [s.to(self.device) for s in stats] if stats is not None else None

    # ----------------------------------------------------------------- training
    def train_batch(self, batch) -> None:
        x = self.prepare(batch)
        if self.fit == "em":
            with torch.no_grad():
                self._nll_stats(self.mixture.log_prob(x))
                stats = self.mixture.em_statistics(x)
                rate = (self.g_step + 2) ** -self.em_decay if self._em_stats is not None else 1.0
                self._em_stats = stats if self._em_stats is None else [
                    (1 - rate) * old.to(new) + rate * new for old, new in zip(self._em_stats, stats, strict=True)]
                self.mixture.m_step(self._em_stats)
        else:
            opt = self.optimizers()
            log_p = self.mixture.log_prob(x)
            loss = -log_p.mean()
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            if (self.g_step + 1) % self.log_every == 0:
                self._track("grad_norm/gmm", grad_norm(self))
            opt.step()
            self._nll_stats(log_p.detach())
        self.g_step += 1
        self.stepped_generator = True
        self._log_and_stop()


def build(cfg, shape: tuple[int, ...]) -> GMMModule:
    m = cfg.model
    return GMMModule(shape, components=m.components, covariance=m.covariance, min_std=m.min_std, fit=m.fit,
                     em_decay=m.em_decay, image_data=m.image_data, opt=OmegaConf.to_container(m.opt),
                     max_steps=cfg.train.max_steps, log_every=cfg.train.log_every, seed=cfg.seed)
