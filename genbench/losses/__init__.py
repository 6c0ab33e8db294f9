"""Losses, one file each, chosen by `loss=<file name>` through the YAML's `_target_`.
GAN losses: a class with `d_loss(real_logits, fake_logits)` and `g_loss(fake_logits)`.
VAE objectives (elbo, iwae; their YAML says `family: vae`): a callable on genbench.vae.bounds.Terms giving the
batch loss to minimize."""
