"""The statistics a module tracks between log points: kept as they come (no tensor op in the step), bounded in
memory, summed exactly the same after a checkpoint round trip, and read from checkpoints of older genbench."""

from __future__ import annotations

import torch

from genbench.modules.base import GenerativeModule


def module() -> GenerativeModule:
    return GenerativeModule(z_dim=2, max_steps=10, log_every=5)


def test_many_values_stay_bounded_and_sum_right():
    m = module()
    values = torch.rand(2 * GenerativeModule.FOLD_AT + 7, generator=torch.Generator().manual_seed(0))
    for v in values:
        m._track("loss/d", v)
    assert len(m._tracked["loss/d"]) < GenerativeModule.FOLD_AT and m._counts["loss/d"] == len(values)
    assert torch.allclose(m.tracked_sums()["loss/d"], values.sum())


def test_a_checkpoint_round_trip_sums_to_the_same_bits():
    m = module()
    for v in torch.rand(GenerativeModule.FOLD_AT + 3, generator=torch.Generator().manual_seed(1)):
        m._track("loss/g", v * 1e-3)
    m._track("reg/gp0", torch.tensor(0.25))
    again = module()
    again.load_counters(m.counters())
    assert again._counts == m._counts
    for key, total in m.tracked_sums().items():
        assert torch.equal(again.tracked_sums()[key], total), key
    more = torch.tensor(0.5)
    m._track("loss/g", more)
    again._track("loss/g", more)
    assert torch.equal(again.tracked_sums()["loss/g"], m.tracked_sums()["loss/g"])


def test_a_checkpoint_of_older_genbench_keeps_its_sums():
    m = module()
    m.load_counters({"g_step": 3, "latest": {}, "stats": ({"loss/d": torch.tensor(6.0)}, {"loss/d": 3})})
    assert m.g_step == 3 and m._counts == {"loss/d": 3} and float(m.tracked_sums()["loss/d"]) == 6.0
