"""GPU hygiene that a CPU can check: the fused-Adam decision, and every GAN objective under bf16 autocast
(including the gradient penalties' double backward) finite and close to float32."""

from __future__ import annotations

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


# --------------------------------------------------------------------------- fused Adam
def test_adam_is_fused_only_when_every_parameter_is_on_cuda(monkeypatch):
    monkeypatch.setattr(optim, "adam_supports_fused", lambda: True)
    assert optim.adam_implementation([on("cuda"), on("cuda")]) == {"fused": True}
    assert optim.adam_implementation([on("cuda"), on("cpu")]) == {}  # mixed devices: torch's default
    assert optim.adam_implementation([on("cpu")]) == {}
    assert optim.adam_implementation([]) == {}
    monkeypatch.setattr(optim, "adam_supports_fused", lambda: False)  # an old torch without the option
    assert optim.adam_implementation([on("cuda")]) == {}


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
    assert "fused" not in made[-1][1]


def test_cpu_adam_is_unchanged():
    net = torch.nn.Linear(3, 2)
    opt = optim.make_optimizer(ADAM, net.parameters())
    assert not opt.defaults.get("fused") and opt.defaults.get("foreach") is None  # torch's own default
    net(torch.randn(4, 3)).sum().backward()
    opt.step()  # and it steps


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
