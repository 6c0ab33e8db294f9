"""Several generator steps per Lightning batch (genbench/runs/step_chunks.py): the size follows every schedule and
the steps done, the data stream is the same batches in the same order, and a run trains exactly as with one batch
per Lightning batch (weights, logged history and evaluations), with n_critic cycles and across a resume."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import pytest
import torch
from conftest import read_json, run_genbench

from genbench.callbacks.checkpoint import LastCheckpoint
from genbench.callbacks.preemption import StopOnSignal
from genbench.data.datamodule import TensorBatches
from genbench.modules.base import GenerativeModule
from genbench.runs.step_chunks import batches_per_call, steps_per_call


@pytest.mark.parametrize("intervals, limit, expected", [
    ([100, 1000, 8000], 25, 25),    # the default schedules and train.steps_per_batch
    ([100, 1000, 8000], 16, 10),
    ([100, 1000, 8000], 1, 1),      # train.steps_per_batch=1: one at a time
    ([64, 256], 16, 16),
    ([7, 100], 16, 1),              # a schedule of 7 and one of 100 meet only at multiples of 1
    ([1, 1000], 16, 1),             # a callback acting after every step (the Dirac trajectory)
    ([48], 40, 24),
])
def test_steps_per_call_divides_every_schedule(intervals, limit, expected):
    m = steps_per_call(intervals, limit)
    assert m == expected and all(i % m == 0 for i in intervals)


@pytest.mark.parametrize("done, n_critic, expected", [
    (0, 1, (25, 0)),
    (250, 1, (25, 0)),      # resumed on the grid: full lists at once
    (1003, 1, (25, 22)),    # resumed off the grid (stopped by a signal): 22 steps first, then lists of 25
    (1003, 5, (125, 110)),  # a WGAN-GP's generator step takes 5 batches
])
def test_a_run_resumed_off_the_grid_first_gets_the_steps_up_to_the_next_list(done, n_critic, expected):
    module = SimpleNamespace(g_step=done, batches_per_g_step=n_critic, log_every=100, max_steps=8000,
                             at_step_boundary=lambda: True)
    trainer = SimpleNamespace(lightning_module=module, callbacks=[])
    assert batches_per_call(trainer, 25) == expected


@pytest.mark.parametrize("chunk, skip, first", [(3, 0, 0), (4, 5, 0), (7, 9, 0), (4, 2, 3)])
def test_lists_of_batches_are_the_same_stream_across_epochs(chunk, skip, first):
    data = torch.arange(40).view(20, 2)  # 5 batches of 4 per epoch: lists straddle epochs
    plain = iter(TensorBatches(data, 4, seed=3, skip=skip))
    chunked = iter(TensorBatches(data, 4, 3, skip=skip, chunk=chunk, first=first))
    lists = [next(chunked) for _ in range(4)]
    assert [len(one) for one in lists] == [first or chunk, chunk, chunk, chunk]
    expected = [next(plain) for _ in range(sum(map(len, lists)))]
    got = [batch for one in lists for batch in one]
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))


class CountingModule(GenerativeModule):
    """Counts its training batches; a signal arrives while batch `signal_at` trains; a generator step takes
    `n_critic` batches."""

    def __init__(self, n_critic: int, signal_at: int):
        super().__init__(z_dim=1, max_steps=10**6, log_every=10**6)
        self.n_critic, self.signal_at, self.batches = n_critic, signal_at, 0

    def train_batch(self, batch) -> None:
        self.batches += 1
        if self.batches == self.signal_at:
            self.stop_requested = True  # what StopOnSignal's handler does in one process

    def at_step_boundary(self) -> bool:
        return self.batches % self.n_critic == 0


@pytest.mark.parametrize("n_critic, signal_at, trained", [(1, 3, 3), (5, 7, 10), (5, 10, 10)])
def test_a_signal_ends_the_list_at_the_next_generator_step(n_critic, signal_at, trained):
    module, handed = CountingModule(n_critic, signal_at), []
    module._trainer = SimpleNamespace(should_stop=False, datamodule=SimpleNamespace(hand_back=handed.append))
    module.training_step(list(range(25)), 0)
    assert module.batches == trained  # never in the middle of a generator step (n_critic batches)
    assert handed == [25 - trained]  # the data stream resumes after the batches trained


def test_in_one_process_the_signal_handler_asks_the_module_to_stop(tmp_path):
    stopper = StopOnSignal(LastCheckpoint(tmp_path, 1000))
    module = CountingModule(1, 0)
    stopper.module = module
    stopper._note(signal.SIGTERM, None)
    assert stopper.pending == signal.SIGTERM and module.stop_requested


SHORT = ["dataset=ring8", "logger=csv", "hardware.threads=1", "metrics=[modes]", "eval.n=500",
         "train.log_every=20", "eval.every=40", "train.sample_every=40", "train.checkpoint_every=40"]


def trained(run) -> tuple[dict, list[dict], int]:
    """(the final weights, the evaluations without their timings, Lightning batches run)."""
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    history = [{k: v for k, v in h.items() if not k.startswith("time/")}
               for h in read_json(run / "metrics.json")["history"]]
    return ckpt["state_dict"], history, ckpt["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["ready"]


@pytest.mark.parametrize("model", ["gan", "wgan_gp"])  # n_critic 1 and 5
def test_a_run_trains_the_same_with_one_or_several_steps_per_lightning_batch(tmp_path, model):
    for name, extra in (("one", ["train.steps_per_batch=1", "train.max_steps=80"]),
                        ("several", ["train.max_steps=40"])):  # several: 20 steps a batch, resumed to 80
        result = run_genbench([f"model={model}", *SHORT, *extra, f"hydra.run.dir={name}"], tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
    result = run_genbench(["resume=several", "train.max_steps=80"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (one, history_one, calls_one), (several, history_several, calls_several) = (trained(tmp_path / name)
                                                                               for name in ("one", "several"))
    assert one.keys() == several.keys() and all(torch.equal(one[k], several[k]) for k in one)
    assert history_one == history_several and [h["step"] for h in history_one] == [40, 80]
    n_critic = 5 if model == "wgan_gp" else 1
    assert (calls_one, calls_several) == (80 * n_critic, 4)  # 20 generator steps per Lightning batch
