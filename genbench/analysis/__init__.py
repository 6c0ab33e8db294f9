"""Studies beside training: the Dirac-GAN game."""
