"""Evaluation metrics: one file each, a class following the contract in base.py (`Metric`: applies(data),
__call__(samples, data, context) -> dict, a headline and its direction; everything else a metric needs comes in
the EvalContext); `metrics=[...]` chooses them through the YAML's `_target_`. A metric YAML with `family: vae`
(or a list of families) evaluates only those model families (checked before training). Which metrics apply,
the monitor and its direction: choice.py; docs/metrics.md."""
