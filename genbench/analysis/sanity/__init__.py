"""The metric sanity studies of the seeds: Heusel et al. 2017's disturbances (does FID rise, and IS fall, as
real images are disturbed more?) and the Inception Score's blind spots (which metric notices a one-image-per-class
or a memorized sample set). `genbench-eval --study heusel2017|is_blind_spots [overrides]`; docs/metrics.md."""
