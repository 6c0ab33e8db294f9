"""Explicit densities shared by the likelihood families (model=gmm, model=nce): mixtures with exact log-densities,
sampling and EM (mixture.py), and the LightningModule base that feeds them prepared data (module.py)."""
