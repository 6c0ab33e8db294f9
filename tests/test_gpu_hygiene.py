"""GPU hygiene that a CPU can check: the optimizer implementations (fused Adam on CUDA, foreach on a CPU),
and every GAN objective under bf16 autocast (including the gradient penalties' double backward) finite and close
to float32."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

from genbench.losses.hinge import HingeLoss
from genbench.losses.lsgan import LeastSquaresLoss
from genbench.losses.minimax import MinimaxLoss
from genbench.losses.ns import NonSaturatingLoss
from genbench.losses.wasserstein import WassersteinLoss
from genbench.modules import optim
from genbench.nets.mlp import MLPDiscriminator
from genbench.regs.dragan import DRAGANPenalty
from genbench.regs.gp import GradientPenalty
from genbench.regs.r1 import R1Penalty
from genbench.regs.r2 import R2Penalty

ADAM = {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}


def on(device: str) -> SimpleNamespace:
    """A stand-in parameter that says it lives on `device` (no GPU needed to test the decision)."""
    return SimpleNamespace(device=torch.device(device))


# --------------------------------------------------------------------------- fused Adam, foreach on the CPU
def test_adam_is_fused_only_when_every_parameter_is_on_cuda(monkeypatch):
    monkeypatch.setattr(optim, "adam_supports_fused", lambda: True)
    assert optim.implementation("adam", [on("cuda"), on("cuda")]) == {"fused": True}
    assert optim.implementation("adam", [on("cuda"), on("cpu")]) == {}  # mixed devices: torch's default
    assert optim.implementation("adam", []) == {}
    assert optim.implementation("rmsprop", [on("cuda")]) == {}  # torch's default (foreach on CUDA)
    monkeypatch.setattr(optim, "adam_supports_fused", lambda: False)  # an old torch without the option
    assert optim.implementation("adam", [on("cuda")]) == {}


def test_this_torch_has_fused_adam():
    assert optim.adam_supports_fused()  # torch >= 2.0: on a GPU the fused kernel is taken


def test_make_optimizer_passes_the_decision_to_adam(monkeypatch):
    made = []

    class Recorder:
        def __init__(self, params, **kwargs):
            made.append((list(params), kwargs))

    monkeypatch.setattr(optim, "adam_supports_fused", lambda: True)
    monkeypatch.setattr(torch.optim, "Adam", Recorder)
    params = [on("cuda"), on("cuda")]
    optim.make_optimizer(ADAM, iter(params))  # a generator, as module.parameters() is
    assert made[-1][0] == params and made[-1][1]["fused"] is True
    optim.make_optimizer(ADAM, [{"params": [on("cuda")]}, {"params": [on("cpu")]}])  # parameter groups
    assert "fused" not in made[-1][1] and "foreach" not in made[-1][1]


@pytest.mark.parametrize("cfg", [ADAM, {**ADAM, "betas": [0.0, 0.9], "weight_decay": 1e-4},
                                 {"name": "rmsprop", "lr": 5e-5}, {"name": "sgd", "lr": 0.01, "momentum": 0.9}],
                         ids=["adam", "adam_decay", "rmsprop", "sgd_momentum"])
def test_cpu_optimizers_take_foreach_and_step_to_the_same_bits_as_torchs_default(cfg):
    """On a CPU every optimizer takes the multi-tensor path (faster than torch's per-tensor loop there) and 20
    steps of a small conv net and linear head end on the very weights torch's default gives."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 1))
    twin = copy.deepcopy(net)
    opt = optim.make_optimizer(cfg, net.parameters())
    assert opt.defaults["foreach"] is True and not opt.defaults.get("fused")
    reference = type(opt)(twin.parameters(), **{k: v for k, v in opt.defaults.items() if k != "foreach"})
    assert reference.defaults["foreach"] is None  # torch's own default: the per-tensor loop on a CPU
    for _ in range(20):
        x = torch.randn(4, 3, 8, 8)
        for model, o in ((net, opt), (twin, reference)):
            o.zero_grad()
            model(x).square().mean().backward()
            o.step()
    assert all(bool(torch.isfinite(p).all()) for p in net.parameters())  # NaN would never compare equal
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), twin.parameters(), strict=True))


# --------------------------------------------------------------------------- bf16 autocast
PENALTIES = {"gp": GradientPenalty(weight=10.0, center=1.0), "gp0": GradientPenalty(weight=1.0, center=0.0),
             "r1": R1Penalty(weight=10.0), "r2": R2Penalty(weight=10.0), "dragan": DRAGANPenalty(weight=10.0)}
LOSSES = [NonSaturatingLoss(), MinimaxLoss(), HingeLoss(), WassersteinLoss(), LeastSquaresLoss()]


@pytest.fixture(scope="module")
def game():
    torch.manual_seed(0)
    return MLPDiscriminator(8, 64), torch.randn(128, 8), torch.randn(128, 8) * 0.5 + 1.0


def grads_of(d: torch.nn.Module, value: torch.Tensor) -> list[torch.Tensor]:
    d.zero_grad(set_to_none=True)
    value.backward()
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in d.parameters()]


def close(a: torch.Tensor, b: torch.Tensor, rel: float) -> bool:
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).norm()) <= rel * float(b.norm()) + 1e-6


def penalty(reg, d, real, fake, bf16: bool) -> torch.Tensor:
    torch.manual_seed(1)  # the same interpolation / perturbation draws in both precisions
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return reg.d_penalty(d, real, fake, 0)


@pytest.mark.parametrize("name", list(PENALTIES))
def test_penalty_under_bf16_autocast_is_finite_and_close_to_fp32(game, name):
    d, real, fake = game
    reg = PENALTIES[name]
    p32 = penalty(reg, d, real, fake, bf16=False)
    g32 = grads_of(d, p32)
    p16 = penalty(reg, d, real, fake, bf16=True)
    g16 = grads_of(d, p16)  # the double backward: d penalty / d weights through grad_x D
    assert torch.isfinite(p16) and all(torch.isfinite(g).all() for g in g16)
    assert any(float(g.abs().sum()) > 0 for g in g16)
    assert close(p16, p32, rel=0.05), (float(p16), float(p32))
    for a, b in zip(g16, g32, strict=True):
        assert close(a, b, rel=0.1)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: type(loss).__name__)
def test_losses_under_bf16_autocast_are_float32_and_close_to_fp32(game, loss):
    d, real, fake = game
    values = {}
    for bf16 in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            real_logits, fake_logits = d(real), d(fake)
            d_loss, g_loss = loss.d_loss(real_logits, fake_logits), loss.g_loss(fake_logits)
        if bf16:
            assert real_logits.dtype == torch.bfloat16  # autocast is on: D ran in bf16
        assert d_loss.dtype == g_loss.dtype == torch.float32  # the loss itself is reduced in float32
        values[bf16] = (d_loss.detach(), g_loss.detach(), grads_of(d, d_loss + g_loss))
    (d32, g32, grads32), (d16, g16, grads16) = values[False], values[True]
    assert torch.isfinite(d16) and torch.isfinite(g16)
    # bf16 has ~3 significant digits: the logits differ by ~1e-2 relative, the losses by less
    assert abs(float(d16 - d32)) <= 0.02 * abs(float(d32)) + 2e-3
    assert abs(float(g16 - g32)) <= 0.02 * abs(float(g32)) + 2e-3
    for a, b in zip(grads16, grads32, strict=True):
        assert torch.isfinite(a).all() and close(a, b, rel=0.1)


def test_losses_keep_double_precision():
    """The float32 cast only widens half types: float64 analyses (genbench.analysis.dirac.study) stay float64."""
    x = torch.randn(5, dtype=torch.float64)
    for loss in LOSSES:
        assert loss.d_loss(x, x).dtype == loss.g_loss(x).dtype == torch.float64
