"""Autoregressive models (`model=pixelcnn`): p(x) = prod_i p(x_i | x_<i), trained by teacher forcing and sampled one
dimension at a time. made.py: MADE's masked MLP with a Gaussian mixture per coordinate (2D toys; an exact density
on the plane). pixelcnn.py: gated PixelCNN's masked convolutions (images) and its row-cached sampler. outputs.py:
the per-pixel distributions (Bernoulli on binarized pixels, a discretized logistic mixture on 8-bit pixels).
checks.py: the config checks of the family."""
