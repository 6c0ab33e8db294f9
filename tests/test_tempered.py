"""reg=lens, tempered adversarial networks (Sajjadi et al. 2018): the schedule, the lens loss on hand cases, the
lens' place in D's objective, one lens step through the real module, and runs through `genbench` with resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from genbench.errors import ConfigError
from genbench.losses.ns import NonSaturatingLoss
from genbench.losses.wasserstein import WassersteinLoss
from genbench.modules.gan import GANModule
from genbench.nets import mlp
from genbench.regs.lens import Lens, build_lens, lens_lambda, lens_objective
from tests.conftest import genbench_env, read_json, run_genbench

SGD = {"name": "sgd", "lr": 0.1}


def test_schedule_at_hand_computed_steps():
    # lambda = 1 - sin(pi t / 2K), K = 6: sin(pi/12) = (sqrt 6 - sqrt 2) / 4, sin(pi/6) = 1/2, sin(pi/4) = sqrt(2)/2
    assert lens_lambda(0, 6) == 1.0
    assert lens_lambda(1, 6) == pytest.approx(1 - (math.sqrt(6) - math.sqrt(2)) / 4, abs=1e-12)
    assert lens_lambda(2, 6) == pytest.approx(0.5, abs=1e-12)
    assert lens_lambda(3, 6) == pytest.approx(1 - math.sqrt(2) / 2, abs=1e-12)
    assert lens_lambda(5, 6) == pytest.approx(1 - math.sin(5 * math.pi / 12), abs=1e-12)
    assert lens_lambda(6, 6) == lens_lambda(7, 6) == lens_lambda(10**6, 6) == 0.0
    assert lens_lambda(0, 0) == 0.0  # K = 0: no lens


@pytest.mark.parametrize("shape", [(2,), (1, 28, 28), (3, 32, 32)])
def test_lens_starts_as_the_identity(shape):
    torch.manual_seed(0)
    lens = build_lens(shape)
    x = torch.randn(4, *shape)
    assert torch.equal(lens(x), x)
    _, _, rec = lens_objective(NonSaturatingLoss(), torch.zeros(4), torch.zeros(4), lens(x), x, 1.0)
    assert rec.item() == 0.0


def _shift_case(adversarial: str, loss, lam: float = 0.5):
    """Real batch at 0, lens = a shift by c = (0.3, -0.4), D(x) = w.x + b with w = (1, 2), b = 2."""
    real = torch.zeros(4, 2)
    c = torch.tensor([0.3, -0.4], requires_grad=True)
    lensed = real + c
    w, b = torch.tensor([1.0, 2.0]), 2.0
    d_lensed, d_fake = lensed @ w + b, torch.full((4,), -1.0)
    total, adv, rec = lens_objective(loss, d_lensed, d_fake, lensed, real, lam, adversarial)
    (grad,) = torch.autograd.grad(total, c)
    return total, adv, rec, grad, w, c.detach()


def test_lens_loss_on_a_hand_case():
    # D(L(x)) = 0.3 - 0.8 + 2 = 1.5 for every sample; ||L(x) - x||^2 = 0.09 + 0.16 = 0.25; D(G(z)) = -1
    total, adv, rec, grad, w, c = _shift_case("flip", NonSaturatingLoss())
    # flip: d_loss(real=-1, fake=1.5) = softplus(1) + softplus(1.5); d/dc = sigmoid(1.5) w (alive while D wins)
    assert rec.item() == pytest.approx(0.25, abs=1e-6)
    assert adv.item() == pytest.approx(F.softplus(torch.tensor(1.0)).item() + F.softplus(torch.tensor(1.5)).item(),
                                       abs=1e-6)
    assert total.item() == pytest.approx(0.5 * adv.item() + 0.25, abs=1e-6)
    sig = 1 / (1 + math.exp(-1.5))
    assert torch.allclose(grad, 0.5 * sig * w + 2 * c, atol=1e-6)
    # negate: -L_D = -(softplus(-1.5) + softplus(-1)); d/dc = sigmoid(-1.5) w, which vanishes as D(L(x)) grows
    total, adv, rec, grad, w, c = _shift_case("negate", NonSaturatingLoss())
    assert adv.item() == pytest.approx(-(F.softplus(torch.tensor(-1.5)) + F.softplus(torch.tensor(-1.0))).item(),
                                       abs=1e-6)
    assert torch.allclose(grad, 0.5 * (1 - sig) * w + 2 * c, atol=1e-6)
    # Wasserstein: both forms are mean D(L(x)) - mean D(G(z)) = 1.5 + 1, gradient w
    for adversarial in ("flip", "negate"):
        _, adv, _, grad, w, c = _shift_case(adversarial, WassersteinLoss())
        assert adv.item() == pytest.approx(2.5, abs=1e-6)
        assert torch.allclose(grad, 0.5 * w + 2 * c, atol=1e-6)


def _lens(anneal_steps: int, shape=(2,), **kw) -> Lens:
    lens = Lens(anneal_steps=anneal_steps, opt=SGD, **kw)
    lens.setup(shape)
    return lens


def _module(regs, d=None) -> GANModule:
    torch.manual_seed(0)
    g, d0 = mlp.build_generator((2,), 4, 8), mlp.build_discriminator((2,), 8)
    module = GANModule(g, d or d0, WassersteinLoss(), regs, z_dim=4, n_critic=1, opt_g=SGD, opt_d=SGD,
                       max_steps=10, log_every=1)
    module.manual_backward = lambda loss: loss.backward()  # no Trainer here
    return module


def test_d_sees_the_lensed_data_until_annealed_then_the_data_itself():
    lens = _lens(anneal_steps=3)
    with torch.no_grad():
        lens.net.body[-1].bias.copy_(torch.tensor([0.5, -1.0]))  # L(x) = x + (0.5, -1)
    module = _module([lens])
    plain = _module([])
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    shifted = real + torch.tensor([0.5, -1.0])
    for step in (0, 2):
        module.g_step = step
        assert torch.equal(lens.real_view(real, step), shifted)
        assert module.d_objective(real, fake)[0].item() == pytest.approx(plain.d_objective(shifted, fake)[0].item())
    for step in (3, 50):  # lambda = 0: the identity in effect, exactly
        module.g_step = step
        assert lens.real_view(real, step) is real
        assert module.d_objective(real, fake)[0].item() == plain.d_objective(real, fake)[0].item()


def test_one_lens_step_through_the_module_matches_the_hand_gradient():
    # identity lens, D(x) = w.x, Wasserstein, flip: dL_L/dL(x_i) = lambda w / N (the reconstruction gradient is 0
    # at the identity), so the output layer's bias moves by -lr * lambda * w; D is untouched and gets no gradient
    lens = _lens(anneal_steps=6)
    d = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[1.0, 2.0]]))
    module = _module([lens], d=d)
    module.g_step = 2
    real = torch.randn(32, 2)
    module.d_objective(real, torch.randn(32, 2))  # D's step: D sees L(real)
    module.g_objective(module.generator(module.noise(32)))  # G's step keeps D's logits on its fake batch
    opt = lens.configure_optimizer()
    calls = []
    hook = lens.net.register_forward_hook(lambda *args: calls.append(1))
    lens.train_step(module.reg_step(), real, opt, will_log=True)
    hook.remove()
    assert calls == []  # the lens step reused the forward of D's step on the same batch
    assert torch.allclose(lens.net.body[-1].bias, -0.1 * 0.5 * torch.tensor([1.0, 2.0]), atol=1e-7)
    assert d.weight.grad is None and d.weight.requires_grad
    assert torch.equal(d.weight, torch.tensor([[1.0, 2.0]]))
    stats = {k: v.item() / module._counts[k] for k, v in module.tracked_sums().items()}
    assert stats["reg/lens/lambda"] == pytest.approx(0.5) and stats["reg/lens/rec"] == 0.0
    assert stats["grad_norm/lens"] > 0
    module.g_step = 6  # annealed: no step
    before = [p.clone() for p in lens.parameters()]
    lens.train_step(module.reg_step(), torch.randn(32, 2), opt, will_log=False)
    assert all(torch.equal(a, b) for a, b in zip(before, lens.parameters(), strict=True))


@pytest.mark.parametrize("kw, word", [({"anneal_steps": -1}, "anneal_steps"), ({"adversarial": "x"}, "adversarial"),
                                      ({"width": 0}, "width"), ({"blocks": -2}, "blocks")])
def test_bad_values_name_the_key(kw, word):
    with pytest.raises(ConfigError, match=f"reg.lens.{word}"):
        Lens(**{"anneal_steps": 10, "opt": SGD, **kw})


# ------------------------------------------------------------------------------------ end to end


def test_cli_bad_lens_value_is_one_line(tmp_path):
    result = run_genbench(["reg=lens", "reg.lens.anneal_steps=-5", "logger=none", "hydra.run.dir=run"], tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("genbench: error: reg.lens.anneal_steps=-5")


def _ckpt(run):
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def test_ring8_wgan_gp_with_lens_runs_and_resumes(tmp_path):
    """model=wgan_gp reg=[gp,lens]: K = 8 generator steps; 6 steps, then resume to 12. The lens' Adam state counts
    8 steps at the end (6 + 2 until annealed): a fresh optimizer after resume would count 2."""
    run = tmp_path / "run"
    args = ["model=wgan_gp", "reg=[gp,lens]", "reg.lens.anneal_steps=8", "debug=fast", "logger=none",
            "hydra.run.dir=run", "dataset.batch_size=64", "eval.n=128", "train.log_every=2"]
    result = run_genbench([*args, "train.max_steps=6", "train.checkpoint_every=6", "eval.every=6"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    first = _ckpt(run)
    lens_keys = [k for k in first["state_dict"] if k.startswith("reg_nets.lens.")]
    assert lens_keys and len(first["optimizer_states"]) == 3
    assert {s["step"].item() for s in first["optimizer_states"][2]["state"].values()} == {6.0}
    result = run_genbench([f"resume={run}", "train.max_steps=12"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record, last = read_json(run / "run.json"), _ckpt(run)
    assert record["status"] == "completed" and record["generator_steps"] == 12 and record["attempts"] == 2
    assert {s["step"].item() for s in last["optimizer_states"][2]["state"].values()} == {8.0}
    assert any(not torch.equal(first["state_dict"][k], last["state_dict"][k]) for k in lens_keys)
    history = read_json(run / "metrics.json")["history"]
    assert [h["step"] for h in history] == [6, 12]
    assert 0 < history[0]["reg/lens/lambda"] < 1 and history[0]["reg/lens/distortion"] > 0
    assert history[-1]["reg/lens/lambda"] == 0 and history[-1]["reg/lens/distortion"] == 0
    assert math.isfinite(history[-1]["loss/d"]) and "reg/gp" in history[-1]


@pytest.mark.slow
def test_mnist_with_lens_runs(tmp_path, mnist_root):
    """The convolutional lens on MNIST (resume is the ring8 test's: the same code path)."""
    result = run_genbench(["dataset=mnist", "reg=[gp0,lens]", "debug=fast", "logger=none", "hydra.run.dir=run",
                           "eval.n=128", "train.log_every=1", "train.sample_every=100", "reg.lens.anneal_steps=100",
                           "train.max_steps=3", "train.checkpoint_every=3", "eval.every=3", "metrics=none"],
                          tmp_path, env=genbench_env(GENBENCH_DATA=str(mnist_root)))
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    assert read_json(run / "run.json")["status"] == "completed"
    last = _ckpt(run)
    assert last["state_dict"]["reg_nets.lens.net.body.0.weight"].shape == (32, 1, 4, 4)
    assert {s["step"].item() for s in last["optimizer_states"][2]["state"].values()} == {3.0}
    final = read_json(run / "metrics.json")["final"]
    # the mean of lambda over the last log window (step 2 -> 3): 1 - sin(2 pi / 200)
    assert final["reg/lens/distortion"] > 0 and final["reg/lens/lambda"] == pytest.approx(1 - math.sin(math.pi / 100))
