"""Stopping on a signal at a step boundary: Ctrl-C (SIGINT), SIGTERM, and a scheduler's time-limit signal.

A signal handler only notes the signal (in one process it also ends the current list of batches at the next
generator step: genbench/runs/step_chunks.py). At the end of the current batch every rank agrees whether any rank
got one (genbench/parallel/distributed.py; one rank receiving it is enough), saves checkpoints/last.ckpt (a
collective), marks the run interrupted and leaves; `genbench resume=<dir>` then ends exactly where the uninterrupted run
would have (the state is a step boundary's, never the middle of a step). A second Ctrl-C before the boundary
stops at once without saving: the previous checkpoint stays as it was.

On SLURM (and in submitit's local executor) submitit sends SIGUSR2 (`SUBMITIT_PREEMPT_SIGNAL`) some
`signal_delay_s` before the time limit; its handler asks hydra-submitit-launcher's `checkpoint` for the same job
again, requeues it and exits. That handler runs after the save, on rank 0; the requeued job resumes in the same
folder (genbench/runs/sweep_job.py).
"""

from __future__ import annotations

import logging
import os
import signal

import pytorch_lightning as pl

from genbench.callbacks.checkpoint import LastCheckpoint
from genbench.parallel import distributed

log = logging.getLogger("genbench")


def scheduler_signal() -> signal.Signals:
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


class Interrupted(SystemExit):
    """Training stopped on a signal after saving; the exit code says which (128 + signal number)."""


class StopOnSignal(pl.Callback):
    every = ()  # acts at any batch end (genbench/runs/step_chunks.py)
    def __init__(self, checkpoint: LastCheckpoint):
        self.checkpoint = checkpoint
        self.module = None
        self.pending: int | None = None  # the signal noted since the last batch boundary
        self._previous: dict[int, object] = {}
        sched = scheduler_signal()
        handler = signal.getsignal(sched)
        self.scheduler = (sched, handler) if callable(handler) else None  # a submitit job's requeue handler

    def _note(self, signum, frame) -> None:
        if self.pending == signal.SIGINT and signum == signal.SIGINT:  # a second Ctrl-C: stop now, save nothing
            raise KeyboardInterrupt
        self.pending = signum
        if self.module is not None and not distributed.active():
            # one process: the module ends its list of batches after this step (GenerativeModule.training_step);
            # ranks must stop at the same step, so under DDP the list's end is where they agree
            self.module.stop_requested = True
        log.warning("received %s: stopping at the end of this step", signal.Signals(signum).name)

    def on_train_start(self, trainer, module) -> None:
        # after Lightning registered its own handlers (in Trainer._run, after on_fit_start): they are replaced for
        # the duration of training. Lightning's SIGTERM handler would broadcast from inside the signal handler and
        # stop each rank at its own step.
        self.module = module
        signums = [signal.SIGINT, signal.SIGTERM] + ([self.scheduler[0]] if self.scheduler else [])
        for signum in signums:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._note)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        stop = distributed.agree_any(self.pending is not None)
        if not stop:
            return
        signum = self.pending if self.pending is not None else signal.SIGTERM  # another rank got it
        log.warning("saving %s at generator step %d, then stopping (status interrupted)", self.checkpoint.path,
                    module.g_step)
        module.status = "interrupted"
        self.checkpoint.save(trainer, module)
        self._restore()
        if self.scheduler and signum == self.scheduler[0]:
            self.scheduler[1](signum, None)  # submitit: checkpoint the submission, requeue, exit (rank 0)
        raise Interrupted(128 + int(signum))

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def teardown(self, trainer, module, stage: str) -> None:
        self._restore()
