"""Evaluation metrics: one file each, a class with `applies(data)`, `__call__(samples, data) -> dict`,
a `headline` key and `higher_is_better`; `metrics=[...]` chooses them through the YAML's `_target_`."""
