"""genbench: a command-line experiment runner for GANs and VAEs (Hydra + PyTorch Lightning)."""

__version__ = "0.1.0"
