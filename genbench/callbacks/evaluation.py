"""Evaluation on a schedule and at the end: metrics on `n` generated samples, training statistics,
metrics.json (final values and the whole history), the loggers, and checkpoints/best.ckpt."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import pytorch_lightning as pl

from genbench.callbacks import on_schedule
from genbench.callbacks.checkpoint import save_atomic
from genbench.metrics.base import EvalContext
from genbench.metrics.choice import Choice
from genbench.parallel import distributed
from genbench.runs.run_dir import RunDir

log = logging.getLogger("genbench")


class Evaluator(pl.Callback):
    def __init__(self, run_dir: Path, choice: Choice, every: int, n: int, protocol: dict | None = None):
        """`choice`: the metrics that apply, the monitor and its mode (genbench/metrics/choice.py decides them)."""
        self.run_dir = Path(run_dir)
        self.path = RunDir(run_dir).metrics_json
        self.best_path = RunDir(run_dir).best_ckpt
        self.metrics, self.every, self.n = list(choice.metrics), every, n
        self.monitor, self.mode = choice.monitor, choice.mode
        self.protocol = {"step_unit": "generator steps", "n_samples": n, **(protocol or {})}
        self.history: list[dict] = []
        self.best: dict | None = None
        self._done = -1
        self._elapsed_before = 0.0
        self._start = time.perf_counter()

    def on_train_start(self, trainer, module) -> None:
        """On resume, keep the history up to the checkpoint's step."""
        self._start = time.perf_counter()
        if self.path.is_file():
            previous = json.loads(self.path.read_text())
            self.history = [h for h in previous.get("history", []) if h["step"] <= module.g_step]
            self.best = previous.get("best")
            if self.best and self.best["step"] > module.g_step:
                self.best = None
            self._elapsed_before = self.history[-1].get("time/elapsed_s", 0.0) if self.history else 0.0

    def evaluate(self, trainer, module) -> None:
        """Every rank calls this at the same steps. Each draws its share of the samples; what the metrics need
        of them (features, or the samples themselves) goes to rank 0, which computes, writes and logs."""
        if module.g_step == self._done or not module.check_finite():
            return
        self._done = module.g_step
        module.flush_stats()
        row: dict = {"step": module.g_step}
        row.update(module.latest)
        row.pop("time/wall_s", None)
        row["time/elapsed_s"] = self._elapsed_before + time.perf_counter() - self._start
        if self.metrics:
            distributed.broadcast_buffers(module.sampler)  # every rank samples rank 0's network
            wanted = any(getattr(m, "needs_samples", True) for m in self.metrics)  # elbo/nll read the module only
            local = module.sample_shard(self.n) if wanted else None
            gathered: dict = {}
            for metric in self.metrics:
                values = self._run_metric(trainer, module, metric, local, gathered)
                row.update(values or {})
        better = self._record(trainer, row) if trainer.is_global_zero else None
        if distributed.broadcast_from_rank0(better):  # saving is collective: every rank takes part
            save_atomic(trainer, self.best_path)
        if trainer.is_global_zero:
            self.write(status=None)  # after best.ckpt: metrics.json never names a best step best.ckpt lacks

    def _run_metric(self, trainer, module, metric, local, gathered: dict) -> dict | None:
        """One metric on this evaluation's samples: directly with one process; with several, feature metrics
        extract features from each rank's share and rank 0 scores them all, other metrics see all samples on
        rank 0 (and only there; they call no collective)."""
        rank0 = trainer.is_global_zero
        context = EvalContext(module=module, output_dir=self.run_dir / "metrics" if rank0 else None,
                              step=module.g_step, run_dir=self.run_dir if rank0 else None)
        if not distributed.active():
            return metric(local, trainer.datamodule, context)
        if local is not None and hasattr(metric, "bank"):  # feature metrics: features from every rank
            parts = distributed.gather_to_rank0(metric.bank.features(local, trainer.datamodule))
            return metric.score(distributed.concat(parts), trainer.datamodule) if rank0 else None
        if local is not None and getattr(metric, "needs_samples", True) and "samples" not in gathered:
            parts = distributed.gather_to_rank0(local.cpu())
            gathered["samples"] = distributed.concat(parts).to(local.device) if rank0 else None
        return metric(gathered.get("samples"), trainer.datamodule, context) if rank0 else None

    def _record(self, trainer, row: dict) -> bool:
        """Rank 0: history, loggers, metrics.json; True when this row is the best so far (best.ckpt is due)."""
        self.history.append(row)
        for logger in trainer.loggers:
            logger.log_metrics({k: v for k, v in row.items() if k != "step"}, step=row["step"])
        better = self._is_better(row)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "step" and not k.startswith("time/"))
        log.info("eval at step %d: %s", row["step"], shown)
        return better

    def _is_better(self, row: dict) -> bool:
        value = row.get(self.monitor) if self.monitor else None
        if value is None or not math.isfinite(value):
            return False
        better = self.best is None or (value > self.best["value"] if self.mode == "max" else value < self.best["value"])
        if better:
            self.best = {"metric": self.monitor, "mode": self.mode, "value": value, "step": row["step"]}
        return better

    def write(self, status: str | None) -> None:
        payload = {"protocol": self.protocol, "final": self.history[-1] if self.history else {},
                   "best": self.best, "history": self.history}
        if status:
            payload["status"] = status
        RunDir.write_json(self.path, payload)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if on_schedule(module, self.every):
            self.evaluate(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self.evaluate(trainer, module)
