"""Every training method of the source documents, end to end through `genbench` as a user types it: a few
steps on the 8-Gaussian ring, stopped and resumed in place (`resume=<dir>`), and a few steps on MNIST."""

from __future__ import annotations

import pytest
import torch
from conftest import genbench_env, read_json, run_genbench

# method -> the overrides a user types (docs/models.md's method table)
METHODS = {
    "jacobian_clamp": ["reg=[gp0,jacobian_clamp]"],
    "minibatch_disc": ["reg=[gp0,minibatch_disc]", "reg.minibatch_disc.num_kernels=8"],
    "consensus_simultaneous": ["reg=consensus", "train.updates=simultaneous", "model.opt_g.name=rmsprop",
                               "model.opt_d.name=rmsprop"],
}
FEW = ["train.log_every=2", "train.sample_every=4", "train.checkpoint_every=4", "eval.every=4",
       "eval.n=256", "logger=csv", "dataset.batch_size=32"]


def _g_step(run) -> int:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["genbench"]["g_step"]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_on_ring8_resumes(tmp_path, method):
    run = tmp_path / "run"
    first = run_genbench(["hydra.run.dir=run", "train.max_steps=4", *FEW, *METHODS[method]], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _g_step(run) == 4
    weights = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    second = run_genbench([f"resume={run}", "train.max_steps=8"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    record = read_json(run / "run.json")
    assert record["status"] == "completed" and record["generator_steps"] == 8 and record["attempts"] == 2
    resumed = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert resumed.keys() == weights.keys()  # the same modules, regularizer parameters included
    assert any(not torch.equal(resumed[k], weights[k]) for k in weights), "resumed run did not train"
    logged = (run / "csv" / "metrics.csv").read_text()
    assert "loss/g" in logged and "modes/covered" in (run / "metrics.json").read_text()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_on_mnist(tmp_path, method, mnist_root):
    result = run_genbench(["hydra.run.dir=run", "dataset=mnist", "train.max_steps=4", *FEW, "metrics=none",
                           *METHODS[method]], tmp_path, env=genbench_env(GENBENCH_DATA=str(mnist_root)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_json(tmp_path / "run" / "run.json")["status"] == "completed"
    assert (tmp_path / "run" / "samples" / "step_4.png").is_file()
