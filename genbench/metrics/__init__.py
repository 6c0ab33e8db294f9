"""Evaluation metrics: one file each, a class with `applies(data)`, `__call__(samples, data) -> dict`,
a `headline` key and `higher_is_better`; `metrics=[...]` chooses them through the YAML's `_target_`.
Optional attributes: `wants_output_dir = True` (the Evaluator sets `output_dir` and `step` before the call, for
plots); `wants_module = True` (the Evaluator and genbench-eval set `module`, the GANModule or VAEModule, before
the call, for metrics that read the networks themselves: genbench.metrics.conditioning the generator, elbo and nll a
VAE's encoder and decoder); `needs_samples = False` (no generated samples are drawn for it: elbo and nll use
held-out data); `auto_monitor = False` (a diagnostic that `eval.monitor=auto` never picks for
checkpoints/best.ckpt, e.g. infogan's Q accuracy). A metric YAML with `family: vae` evaluates only that model
family (checked before training). `applies(data)` reads only the dataset (the Optuna direction calls it before
any data is loaded); `prepare(data)`, optional, runs once on the applying metrics before training (the feature
metrics build their extractor there, so a missing weight file fails at once). Which metrics apply, the monitor
and its direction: genbench/metrics/choice.py."""
