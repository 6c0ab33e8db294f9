"""LightningModules: GANModule (manual optimization of D and G)."""
