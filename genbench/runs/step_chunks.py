"""Several training batches per Lightning batch: Lightning's loop costs a fixed time per batch (its hooks, the
callbacks' on_train_batch_end, progress bookkeeping: ~0.6 ms on a CPU), which is most of a small model's step.
In-memory data is therefore handed to the module as a list of up to `train.steps_per_batch` generator steps'
batches, which the module trains one after another (GenerativeModule.training_step).

Callbacks act only at a Lightning batch's end, so a list always ends where a schedule may fire: its number of
generator steps m divides every schedule of the run (the callbacks' `every`, the log interval, the budget), and
a run resumed off that grid (stopped by a signal at any step) first gets a shorter list up to the next multiple
of m. The training itself, batch by batch and draw by draw, is the same for any `train.steps_per_batch` (1: one
batch per Lightning batch)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def schedules(trainer, module) -> list[int]:
    """Every interval, in generator steps, at whose multiples something acts between batches. A callback with an
    on_train_batch_end says when it acts with `every` (an int, a tuple of them, or () for any batch end);
    one that does not say is assumed to act after every step."""
    import pytorch_lightning as pl

    found = [module.log_every, module.max_steps]
    for callback in trainer.callbacks:
        every = getattr(callback, "every", None)
        if every is None:
            acts = type(callback).on_train_batch_end is not pl.Callback.on_train_batch_end
            found += [1] if acts else []
        else:
            found += list(every) if isinstance(every, Iterable) else [every]
    return [int(e) for e in found if e]


def steps_per_call(intervals: list[int], limit: int) -> int:
    """The largest m <= limit that divides every interval."""
    common = math.gcd(*intervals)
    if common == 0:
        return max(1, limit)
    return max(m for m in range(1, max(1, limit) + 1) if common % m == 0)


def batches_per_call(trainer, limit: int) -> tuple[int, int]:
    """(training batches per Lightning batch from here on, batches in the first list: the steps up to the next
    multiple of that count, 0 when the steps done are one). A GAN's generator step takes n_critic batches."""
    module = trainer.lightning_module
    if limit <= 1 or not module.at_step_boundary():
        return 1, 0
    m = steps_per_call(schedules(trainer, module), limit)
    return m * module.batches_per_g_step, (-module.g_step % m) * module.batches_per_g_step
