"""Several generator steps per Lightning batch (genbench/runs/step_chunks.py): the size follows every schedule and
the steps done, the data stream is the same batches in the same order, and a run trains exactly as with one batch
per Lightning batch (weights, logged history and evaluations), with n_critic cycles and across a resume."""

from __future__ import annotations

import pytest
import torch
from conftest import read_json, run_genbench

from genbench.data.datamodule import TensorBatches
from genbench.runs.step_chunks import steps_per_call


@pytest.mark.parametrize("intervals, done, limit, expected", [
    ([100, 1000, 8000], 0, 16, 10),    # the default schedules: 10 steps per Lightning batch
    ([100, 1000, 8000], 0, 1, 1),      # train.steps_per_batch=1: one at a time
    ([100, 1000, 8000], 250, 16, 10),  # resumed at step 250: gcd 50, still 10
    ([100, 1000, 8000], 1003, 16, 1),  # resumed off the grid (an old checkpoint): one at a time
    ([64, 256], 0, 16, 16),
    ([7, 100], 0, 16, 1),              # a schedule of 7 and one of 100 meet only at multiples of 1
    ([1, 1000], 0, 16, 1),             # a callback acting after every step (the Dirac trajectory)
    ([48], 0, 40, 24),
])
def test_steps_per_call_divides_every_schedule_and_the_steps_done(intervals, done, limit, expected):
    m = steps_per_call(intervals, done, limit)
    assert m == expected and all(i % m == 0 for i in intervals) and done % m == 0


@pytest.mark.parametrize("chunk, skip", [(3, 0), (4, 5), (7, 9)])
def test_lists_of_batches_are_the_same_stream_across_epochs(chunk, skip):
    data = torch.arange(40).view(20, 2)  # 5 batches of 4 per epoch: lists straddle epochs
    plain, chunked = iter(TensorBatches(data, 4, seed=3, skip=skip)), iter(TensorBatches(data, 4, 3, skip=skip,
                                                                                         chunk=chunk))
    expected = [next(plain) for _ in range(4 * chunk)]
    got = [batch for _ in range(4) for batch in next(chunked)]
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))


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
                        ("several", ["train.max_steps=40"])):  # several: 10 steps a batch, resumed to 80
        result = run_genbench([f"model={model}", *SHORT, *extra, f"hydra.run.dir={name}"], tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
    result = run_genbench(["resume=several", "train.max_steps=80"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (one, history_one, calls_one), (several, history_several, calls_several) = (trained(tmp_path / name)
                                                                               for name in ("one", "several"))
    assert one.keys() == several.keys() and all(torch.equal(one[k], several[k]) for k in one)
    assert history_one == history_several and [h["step"] for h in history_one] == [40, 80]
    n_critic = 5 if model == "wgan_gp" else 1
    assert (calls_one, calls_several) == (80 * n_critic, 8)  # 10 generator steps per Lightning batch
