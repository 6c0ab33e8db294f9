"""model=ebm: the Langevin sampler against a known energy, the objective, and runs through `genbench` as a user
types them (ring8 with an exact resume against its uninterrupted twin, the replay buffer restored; MNIST)."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_resumed_like_twin, genbench_env, read_json, run_genbench

from genbench.losses.cd import ContrastiveDivergence
from genbench.modules.ebm import EnergyConv, EnergyMLP, langevin, with_spectral_norm


def test_langevin_recovers_a_gaussians_mean_and_variance(seeded_one_thread):
    """E(x) = |x - mu|^2 / (2 s^2) has exp(-E)/Z = N(mu, s^2 I). The discretized chain's stationary variance is
    s^2 / (1 - a/2) with a = step / s^2 (an AR(1) chain): 1% above s^2 here."""
    mu, s = torch.tensor([1.0, -2.0]), 0.5
    energy = lambda x: (x - mu).square().sum(-1) / (2 * s**2)  # noqa: E731
    start = torch.rand(4000, 2) * 8 - 4
    generator = torch.Generator().manual_seed(0)
    x = langevin(energy, start, steps=600, step_size=0.005, generator=generator)
    assert torch.allclose(x.mean(0), mu, atol=0.03), x.mean(0)
    assert torch.allclose(x.var(0), torch.full((2,), s**2 * 1.01), rtol=0.06), x.var(0)
    # the same generator state gives the same chain; no noise at all collapses onto the mode
    again = langevin(energy, start, steps=600, step_size=0.005, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, again)
    greedy = langevin(energy, start, steps=600, step_size=0.005, noise=0.0)
    assert torch.allclose(greedy, mu.expand_as(greedy), atol=1e-3)


def test_langevin_stays_in_its_box_and_leaves_the_weights_alone(seeded_one_thread):
    net = EnergyMLP(2, [16, 16])
    low, high = torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0])
    x = langevin(net, torch.zeros(64, 2), steps=20, step_size=1.0, noise=3.0, low=low, high=high)
    assert x.abs().max() <= 1 and not x.requires_grad
    assert all(p.grad is None for p in net.parameters())


def test_energy_nets_give_one_energy_per_item():
    assert EnergyMLP(2, [8]).forward(torch.zeros(5, 2)).shape == (5,)
    for shape in ((1, 28, 28), (3, 32, 32)):
        net = with_spectral_norm(EnergyConv(shape, width=4))
        assert net(torch.zeros(3, *shape)).shape == (3,)
        assert any("parametrizations" in name for name, _ in net.named_parameters())


def test_cd_objective_is_data_minus_model_energy_plus_the_penalty():
    e_real, e_fake = torch.tensor([1.0, -1.0, 0.5]), torch.tensor([2.0, 0.0, 1.0])
    loss, contrast, penalty = ContrastiveDivergence(alpha=0.1)(e_real, e_fake)
    assert contrast == pytest.approx(e_real.mean() - e_fake.mean())
    assert penalty == pytest.approx((e_real**2 + e_fake**2).mean())
    assert loss == pytest.approx(contrast + 0.1 * penalty)


FEW = ["train.log_every=50", "train.sample_every=150", "train.checkpoint_every=150", "eval.every=150",
       "eval.n=500", "logger=csv", "model.buffer.size=1000", "dataset.batch_size=128"]


def _final(run) -> dict:
    return {k: v for k, v in read_json(run / "metrics.json")["final"].items() if not k.startswith("time/")}


def _ckpt(run) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def test_ebm_on_ring8_resumes_exactly_with_its_replay_buffer(tmp_path):
    """150 steps, then resume=<dir> to 300, against the same 300 steps uninterrupted: the same weights, replay
    buffer and final metrics, to the bit."""
    twin = run_genbench(["model=ebm", "hydra.run.dir=twin", "train.max_steps=300", *FEW], tmp_path)
    assert twin.returncode == 0, twin.stderr[-3000:]
    first = run_genbench(["model=ebm", "hydra.run.dir=run", "train.max_steps=150", *FEW], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    halfway = _ckpt(tmp_path / "run")["state_dict"]
    assert bool(halfway["replay_filled"]) and halfway["replay"].shape == (1000, 2)
    second = run_genbench(["resume=run", "train.max_steps=300"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    run = tmp_path / "run"
    resumed = assert_resumed_like_twin(run, tmp_path / "twin", 300)
    # the resumed run continued the saved chains (a refilled or empty buffer could not meet the twin above)
    assert not torch.equal(resumed["replay"], halfway["replay"])
    assert _final(run) == _final(tmp_path / "twin")
    assert "modes/covered" in _final(run) and "train/cd" in (run / "csv" / "metrics.csv").read_text()
    assert (run / "samples" / "step_300.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["reg=sn"], "reg=sn: GAN regularizers"),
    (["loss=ns"], "choose loss=cd"),
    (["model.init=gibbs"], "model.init='gibbs': choose data"),
    (["model.init=data", "model.sample.start=buffer"], "model.init=data keeps none"),
    (["model.buffer.size=10"], "model.buffer.size=10 holds fewer chains than a batch"),
    (["model.langevin.step_size=0"], "model.langevin.step_size=0 must be a positive number"),
    (["hardware.devices=2"], "use hardware.devices=1"),
])
def test_bad_ebm_options_are_clear_errors(tmp_path, args, message):
    result = run_genbench(["model=ebm", *args, "hydra.run.dir=run"], tmp_path, timeout=60)
    assert result.returncode == 2 and "genbench: error:" in result.stderr and message in result.stderr, result.stderr


def test_ebm_on_mnist_writes_samples(tmp_path, mnist_root):
    result = run_genbench(["model=ebm_image", "hydra.run.dir=run", "train.max_steps=4", "train.log_every=2",
                           "train.sample_every=4", "metrics=none", "logger=csv", "model.langevin.steps=5",
                           "model.sample.steps=5", "dataset.batch_size=16", "model.buffer.size=64"],
                          tmp_path, env=genbench_env(GENBENCH_DATA=str(mnist_root)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_json(tmp_path / "run" / "run.json")["status"] == "completed"
    assert (tmp_path / "run" / "samples" / "step_4.png").is_file()
    state = _ckpt(tmp_path / "run")["state_dict"]
    assert state["replay"].shape == (64, 1, 28, 28) and state["replay"].abs().max() <= 1
