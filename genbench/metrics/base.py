"""The metric contract. A metric is one class (its YAML's `_target_`) with:

    name: str                 the key prefix of its values ("fid" -> "fid/value")
    headline: str             the value a table shows and `eval.monitor=auto` may select
    higher_is_better: bool    the headline's direction
    applies(data) -> bool     whether it evaluates this dataset (reads only the dataset: the Optuna direction
                              calls it before any data is loaded)
    __call__(samples, data, context) -> dict[str, float]

and may declare `needs_samples = False` (it reads the model on held-out data, no samples are drawn for it:
elbo, nll, toy_nll), `auto_monitor = False` (a diagnostic that `eval.monitor=auto` never picks) and
`prepare(data)` (run once before training: the feature metrics build their extractor there). Everything else a
metric needs comes in the EvalContext, never through attributes set on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch


@dataclass(frozen=True)
class EvalContext:
    """What an evaluation hands a metric besides the samples and the data: the model under evaluation (metrics
    that read its networks: conditioning, elbo, nll, toy_nll, infogan, dirac), where to draw pictures (None: draw
    none, as on ranks > 0, in genbench-eval and in the sanity studies), the generator step, and the run folder."""

    module: object | None = None
    output_dir: Path | None = None
    step: int | None = None
    run_dir: Path | None = None


NO_CONTEXT = EvalContext()


@runtime_checkable
class Metric(Protocol):
    name: str
    headline: str
    higher_is_better: bool

    def applies(self, data) -> bool: ...

    def __call__(self, samples: torch.Tensor | None, data, context: EvalContext = NO_CONTEXT) -> dict[str, float]: ...
