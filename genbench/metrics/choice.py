"""Which chosen metrics an evaluation runs, which value selects checkpoints/best.ckpt (the monitor) and which way
is better: decided here once, for training (the Evaluator), genbench-eval and the Optuna search's direction.

Why one place: the search once took the first metric's direction while the Evaluator skipped the metrics that do
not apply to the dataset, so `metrics=[fid,modes]` on ring8 maximized modes/hq_fraction in training and
minimized it in Optuna."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from omegaconf import DictConfig

from genbench.errors import ConfigError

log = logging.getLogger("genbench")

MODES = ("auto", "max", "min")


@dataclass(frozen=True)
class Choice:
    metrics: tuple            # the chosen metrics that apply to the dataset, in the order of metrics=[...]
    monitor: str | None       # the headline that selects checkpoints/best.ckpt; None when no metric applies
    mode: str | None          # "max" | "min" (None without a monitor)
    record: dict = field(default_factory=dict)  # what metrics.json states about an automatic choice (defaults.py)

    @property
    def direction(self) -> str:
        """Optuna's word for the mode."""
        return "maximize" if self.mode == "max" else "minimize"

    def prepare(self, data) -> None:
        """Let each metric build what it needs before training (an extractor), so a missing weight file fails
        now rather than at the first evaluation."""
        for metric in self.metrics:
            prepare = getattr(metric, "prepare", None)
            if prepare is not None:
                prepare(data)


def entries(metrics: DictConfig) -> list[DictConfig]:
    """The chosen metric entries of the metrics group (those with a `_target_`), in order. Entries without one
    (e.g. budget=smoke's settings of metrics it does not choose) are left out."""
    return [v for v in (metrics or {}).values() if isinstance(v, DictConfig) and "_target_" in v]


def choose(metrics: list, data, monitor: str | None = "auto", mode: str = "auto") -> Choice:
    """The metrics that apply to `data` (the datamodule), the monitor and its mode.

    monitor=auto: the headline of the first applying metric that may be monitored (`auto_monitor`, default True);
    otherwise the named headline, which must belong to an applying metric unless the mode is given; None: no
    monitor (genbench-eval selects no checkpoint)."""
    if mode not in MODES:
        raise ConfigError(f"eval.mode={mode!r}: choose max, min or auto")
    applying = []
    for metric in metrics:
        if metric.applies(data):
            applying.append(metric)
        else:
            log.info("metric %s does not apply to dataset %s: skipped", getattr(metric, "name", type(metric).__name__),
                     getattr(data.dataset, "name", type(data.dataset).__name__))
    if monitor == "auto":
        candidates = [m for m in applying if getattr(m, "auto_monitor", True)]
        monitor = candidates[0].headline if candidates else None
    if monitor is None:
        return Choice(tuple(applying), None, None)
    if mode == "auto":
        owner = next((m for m in applying if m.headline == monitor), None)
        if owner is None:
            headlines = ", ".join(m.headline for m in applying) or "none"
            raise ConfigError(f"eval.monitor={monitor} is not the headline of a metric that applies to this dataset "
                              f"({headlines}): monitor one of those, or say which way is better with eval.mode=max "
                              "or eval.mode=min")
        mode = "max" if owner.higher_is_better else "min"
    return Choice(tuple(applying), monitor, mode)


def choose_for(cfg: DictConfig, data=None, monitored: bool = True, previous: str | None = None) -> Choice:
    """`choose` for a composed config: `metrics=[auto]` and `eval.extractor=auto` resolved for the data
    (genbench/metrics/defaults.py; `previous`: the extractor a resumed run used), its metric entries instantiated,
    `data` built from the config when not given (the dataset's constructor only records its options: nothing is
    read); `monitored=False`: no monitor."""
    from dataclasses import replace

    from hydra.utils import instantiate

    from genbench.metrics.defaults import resolve

    if data is None:
        from genbench.runs.train import build_datamodule

        data = build_datamodule(cfg)
    cfg, record = resolve(cfg, data, previous)
    metrics = [instantiate(entry) for entry in entries(cfg.get("metrics") or {})]
    return replace(choose(metrics, data, cfg.eval.monitor if monitored else None, cfg.eval.mode), record=record)
