"""A scheduler's time-limit signal, handled at a batch boundary: save last.ckpt, then let submitit requeue.

On SLURM (and in submitit's local executor) submitit sends SIGUSR2 (`SUBMITIT_PREEMPT_SIGNAL`) some
`signal_delay_s` before the time limit; its handler asks hydra-submitit-launcher's `checkpoint` for the same
job again, requeues it and exits. Run as is, that exit would land in the middle of a training step. This
callback takes the signal over for the duration of training, waits for the end of the current batch, saves
checkpoints/last.ckpt, and only then calls submitit's handler. The requeued job runs the same overrides in the
same folder, where genbench resumes it (genbench/sweep_job.py).
"""

from __future__ import annotations

import logging
import os
import signal

import pytorch_lightning as pl

from genbench.callbacks.checkpoint import LastCheckpoint

log = logging.getLogger("genbench")


def scheduler_signal() -> signal.Signals:
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


class DeferredRequeue(pl.Callback):
    def __init__(self, checkpoint: LastCheckpoint, signum: signal.Signals, handler):
        self.checkpoint, self.signum, self.handler = checkpoint, signum, handler
        self.pending = False

    @classmethod
    def if_scheduled(cls, checkpoint: LastCheckpoint) -> DeferredRequeue | None:
        """The callback when a scheduler handles the signal (a submitit job), else None (nothing to defer)."""
        signum = scheduler_signal()
        handler = signal.getsignal(signum)
        return cls(checkpoint, signum, handler) if callable(handler) else None

    def _note(self, signum, frame) -> None:
        self.pending = True
        log.warning("received %s (time limit or preemption): stopping after this batch", signal.Signals(signum).name)

    def on_fit_start(self, trainer, module) -> None:
        signal.signal(self.signum, self._note)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        stop = self.pending
        if trainer.world_size > 1:  # every rank stops at the same batch (saving is collective)
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop:
            return
        log.warning("saving %s at generator step %d, then requeueing", self.checkpoint.path, module.g_step)
        self.checkpoint.save(trainer, module)
        module.status = "interrupted"
        signal.signal(self.signum, self.handler)
        self.handler(self.signum, None)  # submitit: checkpoint the submission, requeue, exit (rank 0 only)
        raise SystemExit(1)  # other ranks: submitit's handler returns; leave with rank 0

    def teardown(self, trainer, module, stage: str) -> None:
        signal.signal(self.signum, self.handler)
