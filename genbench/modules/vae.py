"""VAEModule: VAE, beta-VAE and IWAE under Lightning, with the run machinery GANs have (GenerativeModule).

One training step: the batch's uint8 pixels become the likelihood's target (dynamic binarization for Bernoulli,
seeded and kept in the checkpoint), the encoder gives q(z|x), k = `model.k` samples z are decoded, and the
objective (`loss=elbo`: D + beta R; `loss=iwae`: the IWAE bound) is minimized with one optimizer step. Each step
is one generator (decoder) step, so `g_step`, `train.max_steps` and every schedule count training steps.
Logged: loss/vae (the objective), train/neg_elbo (D + R), train/rate, train/distortion, grad_norm/vae.

Samples (`sample`, `sampler`) are the decoder's mean images for z ~ N(0, I) in model space [-1, 1], so every
image metric (fid, kid, is, prdc, gs, birthday, conditioning) evaluates a VAE exactly as it does a GAN.

On vectors (the 2D toys) the likelihood is a Gaussian on the real values (VectorGaussian) and samples are draws of
p(x|z): the noise has z_dim + D columns, the latent and the observation noise. `log_prob_estimate` (the IWAE bound
with k samples) is what metrics=[toy_nll] reports for a VAE.
"""

from __future__ import annotations

import torch
from omegaconf import OmegaConf
from torch import nn

from genbench.errors import ConfigError
from genbench.modules.base import GenerativeModule, grad_norm
from genbench.modules.data_noise import DataNoise
from genbench.modules.optim import make_optimizer
from genbench.vae.bounds import Terms, importance_sampled_log_likelihood, reparameterize


class DecoderMean(nn.Module):
    """z -> the decoder's mean image in model space [-1, 1] (what samples show; not a draw from p(x|z))."""

    def __init__(self, decoder: nn.Module, likelihood: nn.Module):
        super().__init__()
        self.decoder, self.likelihood = decoder, likelihood

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.decoder(z)).mul(2).sub(1)


class DecoderDraw(nn.Module):
    """(z, eps) -> a draw of p(x|z) for vectors: the decoder's mean plus sigma * eps (VectorGaussian.draw)."""

    def __init__(self, decoder: nn.Module, likelihood: nn.Module, z_dim: int):
        super().__init__()
        self.decoder, self.likelihood, self.z_dim = decoder, likelihood, z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.draw(self.decoder(z[:, :self.z_dim]), z[:, self.z_dim:])


class VAEModule(DataNoise, GenerativeModule):
    def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood: nn.Module, loss, *, z_dim: int, k: int,
                 opt: dict, max_steps: int, log_every: int, lr_schedule: dict | None = None, seed: int = 0,
                 images_every: int | None = None):
        super().__init__(z_dim=z_dim, max_steps=max_steps, log_every=log_every)
        self.automatic_optimization = False
        self.encoder, self.decoder, self.likelihood = encoder, decoder, likelihood
        self.loss, self.k = loss, k
        self.opt_cfg, self.lr_schedule = dict(opt), dict(lr_schedule) if lr_schedule else None
        self.seed, self.images_every = seed, images_every
        self.draw_dim = decoder.out_shape[0] if hasattr(likelihood, "draw") else 0  # observation noise columns

    # ----------------------------------------------------------------- setup
    def configure_optimizers(self):
        opt = make_optimizer(self.opt_cfg, self.parameters())
        if not self.lr_schedule:
            return opt
        schedule = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(self.lr_schedule["milestones"]),
                                                        gamma=float(self.lr_schedule["gamma"]))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def configure_callbacks(self):
        """Reconstructions and latent traversals beside the prior samples, on the sample schedule."""
        from genbench.callbacks.vae_images import VAEImages

        return [VAEImages(self.images_every, seed=self.seed)] if self.images_every else []

    # ----------------------------------------------------------------- the model
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x), each (B, z_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def terms(self, target: torch.Tensor, k: int, generator: torch.Generator | None = None,
              posterior: tuple[torch.Tensor, torch.Tensor] | None = None) -> Terms:
        """k samples from q(z|x) for each example of `target` and every log density the bounds need."""
        mu, logvar = posterior if posterior is not None else self.posterior(target)
        z = reparameterize(mu, logvar, k, generator)
        params = self.decoder(z.flatten(0, 1))
        params = params.view(k, len(mu), *params.shape[1:])
        return Terms(self.likelihood.log_prob(params, target), z, mu, logvar)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """N(0, I) latents, plus the observation noise of each draw on vectors (z_dim + D columns)."""
        device = generator.device if generator is not None else self.device
        return torch.randn(n, self.z_dim + self.draw_dim, generator=generator, device=device)

    @property
    def sampler(self) -> nn.Module:
        net = (DecoderDraw(self.decoder, self.likelihood, self.z_dim) if self.draw_dim
               else DecoderMean(self.decoder, self.likelihood))
        return net.train(self.decoder.training)

    @torch.no_grad()
    def log_prob_estimate(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                          rows: int = 2000) -> torch.Tensor:
        """(B,) log p(x) estimated by the IWAE bound L_k (<= log p(x)) of the prepared points x."""
        return importance_sampled_log_likelihood(self, x, k, rows, generator)

    @torch.no_grad()
    def reconstruct(self, target: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image at the posterior mean, in model space."""
        return self.sampler(self.posterior(target)[0])

    # ----------------------------------------------------------------- training
    def train_batch(self, batch) -> None:
        opt = self.optimizers()
        target = self.likelihood.prepare(batch, self.data_rng())
        terms = self.terms(target, self.k)
        loss = self.loss(terms)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if (self.g_step + 1) % self.log_every == 0:
            self._track("grad_norm/vae", grad_norm(self))
        opt.step()
        if self.lr_schedule:
            self.lr_schedulers().step()
        rate, distortion = terms.rate.mean(), terms.distortion.mean()
        self._track("loss/vae", loss)
        self._track("train/neg_elbo", rate + distortion)
        self._track("train/rate", rate)
        self._track("train/distortion", distortion)
        self.g_step += 1
        self.stepped_generator = True
        self._log_and_stop()


def build(cfg, shape: tuple[int, ...]) -> VAEModule:
    """The VAEModule of a composed config: likelihood, encoder/decoder for `shape`, the objective (`loss=`)."""
    from hydra.utils import instantiate

    from genbench.vae.likelihoods import VectorGaussian, build_likelihood
    from genbench.vae.nets import build_encoder_decoder

    m = cfg.model
    if len(shape) not in (1, 3):
        raise ConfigError(f"model={m.name} trains on images or vectors; dataset={cfg.dataset.name} holds items of "
                          f"shape {tuple(shape)}")
    vectors = len(shape) == 1
    if vectors:  # real vectors: a Gaussian on the values, whatever likelihood images would use
        likelihood = VectorGaussian(shape[0], m.likelihood.get("sigma"))
    else:
        likelihood = build_likelihood(m.likelihood.name, shape[0], m.likelihood.get("sigma"))
    encoder, decoder = build_encoder_decoder(m.nets, shape, m.z_dim, likelihood.params_per_channel)
    schedule = OmegaConf.to_container(m.lr_schedule) if m.get("lr_schedule") else None
    return VAEModule(encoder, decoder, likelihood, instantiate(cfg.loss), z_dim=m.z_dim, k=m.k,
                     opt=OmegaConf.to_container(m.opt), lr_schedule=schedule, max_steps=cfg.train.max_steps,
                     log_every=cfg.train.log_every, seed=cfg.seed,
                     images_every=None if vectors else cfg.train.sample_every)
