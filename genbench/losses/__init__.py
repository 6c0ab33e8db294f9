"""GAN losses: one file each, a class with `d_loss(real_logits, fake_logits)` and `g_loss(fake_logits)`,
chosen by `loss=<file name>` through the YAML's `_target_`."""
