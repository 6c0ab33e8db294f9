"""Losses, one file each, chosen by `loss=<file name>` through the YAML's `_target_`.
GAN losses: a class with `d_loss(real_logits, fake_logits)` and `g_loss(fake_logits)`. They compute in float32 at
least (`wide`) whatever the logits' dtype: under bf16 autocast D's logits are bfloat16, and a mean (or a difference
of means, the Wasserstein estimate) rounded to bfloat16 keeps ~3 significant digits; casting N logits costs nothing.
VAE objectives (elbo, iwae; their YAML says `family: vae`): a callable on genbench.vae.bounds.Terms giving the
batch loss to minimize. The EBM's (cd; `family: ebm`): a callable on the energies of a data and a model batch."""

import torch

HALF = (torch.bfloat16, torch.float16)


def wide(x: torch.Tensor) -> torch.Tensor:
    """x in float32 when it is bfloat16 or float16 (D's logits under autocast); any other dtype as it is."""
    return x.float() if x.dtype in HALF else x
