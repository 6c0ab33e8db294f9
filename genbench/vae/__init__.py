"""The likelihood side: VAEs (Kingma & Welling 2013), beta-VAEs, IWAEs (Burda et al. 2015) and the
rate-distortion view of Alemi et al. 2018.

- bounds.py: the Gaussian KL, the log densities, the ELBO's rate and distortion, the IWAE bound and the
  batched importance-sampled log-likelihood; one implementation for training, metrics and tests;
- likelihoods.py: the decoder's p(x|z) (Bernoulli with dynamic binarization, Gaussian on dequantized pixels,
  discretized logistic);
- nets.py: MLP and convolutional encoders/decoders;
- images.py: reconstructions and latent traversals; rate_distortion.py: the D-R plot of a beta sweep.
The LightningModule is genbench/modules/vae.py; the objectives genbench/losses/{elbo,iwae}.py; the metrics
genbench/metrics/{elbo,nll}.py.
"""
