"""The five GAN losses on hand-chosen logits, against values worked out by hand in the comments,
and the gradient behaviour that tells the minimax generator loss from the non-saturating one."""

from __future__ import annotations

import importlib.resources
import math

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from genbench.losses.hinge import HingeLoss
from genbench.losses.lsgan import LeastSquaresLoss
from genbench.losses.minimax import MinimaxLoss
from genbench.losses.ns import NonSaturatingLoss
from genbench.losses.wasserstein import WassersteinLoss

LOG2 = math.log(2.0)
LOG3 = math.log(3.0)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def grad_of(fn, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    fn(x).backward()
    return x.grad


# --------------------------------------------------------------------------------------- minimax


def test_minimax_d_loss_at_zero_logits_is_2_log_2():
    # D(x) = sigmoid(0) = 1/2 for both: -log(1/2) - log(1 - 1/2) = 2 log 2
    assert MinimaxLoss().d_loss(t(0.0, 0.0), t(0.0, 0.0)).item() == pytest.approx(2 * LOG2, abs=1e-12)


def test_minimax_d_loss_at_log3_logits():
    # real logit log 3: sigmoid = 3/(3+1) = 3/4, -log(3/4) = log(4/3)
    # fake logit -log 3: sigmoid = 1/4, -log(1 - 1/4) = log(4/3);  total 2 log(4/3)
    loss = MinimaxLoss().d_loss(t(LOG3), t(-LOG3)).item()
    assert loss == pytest.approx(2 * math.log(4 / 3), abs=1e-12)


def test_minimax_d_loss_averages_over_the_batch():
    # real [0, log 3]: mean(log 2, log 4/3);  fake [0, -log 3]: mean(log 2, log 4/3)
    # total = log 2 + log(4/3) = log(8/3)
    loss = MinimaxLoss().d_loss(t(0.0, LOG3), t(0.0, -LOG3)).item()
    assert loss == pytest.approx(math.log(8 / 3), abs=1e-12)


def test_minimax_d_loss_is_small_when_d_wins_and_large_when_it_loses():
    loss = MinimaxLoss()
    # real 20, fake -20: softplus(-20) ~ e^-20 each, total ~ 2e-9
    assert loss.d_loss(t(20.0), t(-20.0)).item() == pytest.approx(2 * math.exp(-20), rel=1e-6)
    # real -20, fake 20: softplus(20) ~ 20 each, total ~ 40
    assert loss.d_loss(t(-20.0), t(20.0)).item() == pytest.approx(40.0, abs=1e-6)


def test_minimax_d_loss_is_finite_for_extreme_logits():
    # softplus form: -log sigmoid(-1000) = 1000, not inf (a naive log(sigmoid) would give inf)
    loss = MinimaxLoss().d_loss(torch.tensor([-1000.0]), torch.tensor([1000.0]))
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(2000.0)


def test_minimax_g_loss_is_log_one_minus_d():
    # G minimizes log(1 - sigmoid(f)): f = 0 -> log(1/2) = -log 2
    assert MinimaxLoss().g_loss(t(0.0)).item() == pytest.approx(-LOG2, abs=1e-12)
    # f = log 3: sigmoid = 3/4, log(1/4) = -2 log 2
    assert MinimaxLoss().g_loss(t(LOG3)).item() == pytest.approx(-2 * LOG2, abs=1e-12)


# ---------------------------------------------------------------------------------- non-saturating


def test_ns_d_loss_is_the_minimax_one():
    real, fake = t(0.3, -1.2, 2.0), t(-0.7, 0.1, 1.5)
    assert NonSaturatingLoss().d_loss(real, fake).item() == pytest.approx(MinimaxLoss().d_loss(real, fake).item())


def test_ns_g_loss_is_minus_log_d():
    # -log sigmoid(0) = log 2
    assert NonSaturatingLoss().g_loss(t(0.0)).item() == pytest.approx(LOG2, abs=1e-12)
    # -log sigmoid(log 3) = -log(3/4) = log(4/3)
    assert NonSaturatingLoss().g_loss(t(LOG3)).item() == pytest.approx(math.log(4 / 3), abs=1e-12)
    # mean over [0, log 3] = (log 2 + log 4/3) / 2 = log(8/3) / 2
    assert NonSaturatingLoss().g_loss(t(0.0, LOG3)).item() == pytest.approx(math.log(8 / 3) / 2, abs=1e-12)


def test_ns_generator_gradient_does_not_vanish_where_minimax_saturates():
    # D confidently rejects the fakes: f = -10.
    # minimax: d/df log(1 - sigmoid(f)) = -sigmoid(f) = -sigmoid(-10) ~ -4.54e-5 (saturated)
    # ns:      d/df -log sigmoid(f)     = -(1 - sigmoid(f)) = -sigmoid(10) ~ -0.99995
    f = t(-10.0)
    g_mm = grad_of(MinimaxLoss().g_loss, f).item()
    g_ns = grad_of(NonSaturatingLoss().g_loss, f).item()
    assert g_mm == pytest.approx(-1 / (1 + math.exp(10)), rel=1e-9)
    assert g_ns == pytest.approx(-1 / (1 + math.exp(-10)), rel=1e-9)
    assert abs(g_mm) < 1e-4
    assert abs(g_ns) > 0.99
    # both push f up (negative gradient of the loss G minimizes)
    assert g_mm < 0 and g_ns < 0


def test_minimax_and_ns_gradients_agree_at_zero():
    # at f = 0 both are -1/2 (sigmoid(0) = 1 - sigmoid(0) = 1/2)
    f = t(0.0)
    assert grad_of(MinimaxLoss().g_loss, f).item() == pytest.approx(-0.5)
    assert grad_of(NonSaturatingLoss().g_loss, f).item() == pytest.approx(-0.5)


# -------------------------------------------------------------------------------------- wasserstein


def test_wasserstein_d_loss_is_mean_fake_minus_mean_real():
    # mean(fake) = (-1 + 0) / 2 = -0.5; mean(real) = (1 + 3) / 2 = 2; d_loss = -2.5
    assert WassersteinLoss().d_loss(t(1.0, 3.0), t(-1.0, 0.0)).item() == pytest.approx(-2.5)


def test_wasserstein_g_loss_is_minus_mean_fake():
    # -(2 - 4 + 8) / 3 = -2
    assert WassersteinLoss().g_loss(t(2.0, -4.0, 8.0)).item() == pytest.approx(-2.0)


def test_wasserstein_gradients_are_constant():
    # d/dreal_i = -1/n, d/dfake_i = +1/n whatever the values (no saturation)
    real, fake = t(100.0, -3.0), t(-50.0, 7.0)
    real.requires_grad_(True)
    fake.requires_grad_(True)
    WassersteinLoss().d_loss(real, fake).backward()
    assert torch.equal(real.grad, t(-0.5, -0.5))
    assert torch.equal(fake.grad, t(0.5, 0.5))


# -------------------------------------------------------------------------------------------- hinge


def test_hinge_d_loss_is_zero_beyond_the_margins():
    # relu(1 - 2) + relu(1 + -2) = 0 + 0
    assert HingeLoss().d_loss(t(2.0), t(-2.0)).item() == 0.0


def test_hinge_d_loss_at_zero_is_two():
    # relu(1 - 0) + relu(1 + 0) = 2
    assert HingeLoss().d_loss(t(0.0), t(0.0)).item() == pytest.approx(2.0)


def test_hinge_d_loss_mixed_batch():
    # real [0.5, 3]: relu(0.5), relu(-2) -> mean 0.25;  fake [-0.5, 1]: relu(0.5), relu(2) -> mean 1.25
    assert HingeLoss().d_loss(t(0.5, 3.0), t(-0.5, 1.0)).item() == pytest.approx(1.5)


def test_hinge_d_gradient_is_zero_for_satisfied_margins():
    # real 3 (> 1) and fake -3 (< -1) contribute nothing; real 0 gets -1/2 and fake 0 gets +1/2
    real, fake = t(3.0, 0.0).requires_grad_(True), t(-3.0, 0.0).requires_grad_(True)
    HingeLoss().d_loss(real, fake).backward()
    assert torch.equal(real.grad, t(0.0, -0.5))
    assert torch.equal(fake.grad, t(0.0, 0.5))


def test_hinge_g_loss_is_minus_mean_fake():
    # -(1 + 3) / 2 = -2
    assert HingeLoss().g_loss(t(1.0, 3.0)).item() == pytest.approx(-2.0)


# -------------------------------------------------------------------------------------------- lsgan


def test_lsgan_d_loss_values():
    loss = LeastSquaresLoss()
    # perfect D (real 1, fake 0): 0
    assert loss.d_loss(t(1.0), t(0.0)).item() == 0.0
    # swapped (real 0, fake 1): 1/2 (0-1)^2 + 1/2 1^2 = 1
    assert loss.d_loss(t(0.0), t(1.0)).item() == pytest.approx(1.0)
    # real [3, 1]: 1/2 mean(4, 0) = 1;  fake [2, -2]: 1/2 mean(4, 4) = 2;  total 3
    assert loss.d_loss(t(3.0, 1.0), t(2.0, -2.0)).item() == pytest.approx(3.0)


def test_lsgan_g_loss_values():
    loss = LeastSquaresLoss()
    # 1/2 (0 - 1)^2 = 0.5;  at the target 1: 0;  [3, -1]: 1/2 mean(4, 4) = 2
    assert loss.g_loss(t(0.0)).item() == pytest.approx(0.5)
    assert loss.g_loss(t(1.0)).item() == 0.0
    assert loss.g_loss(t(3.0, -1.0)).item() == pytest.approx(2.0)


def test_lsgan_g_gradient_is_linear_in_the_distance_to_one():
    # d/df 1/2 (f - 1)^2 = f - 1: at f = -10, -11 (no saturation)
    assert grad_of(LeastSquaresLoss().g_loss, t(-10.0)).item() == pytest.approx(-11.0)


# ------------------------------------------------------------------------------------------ configs


@pytest.mark.parametrize(
    ("name", "cls"),
    [("minimax", MinimaxLoss), ("ns", NonSaturatingLoss), ("wasserstein", WassersteinLoss),
     ("hinge", HingeLoss), ("lsgan", LeastSquaresLoss)],
)
def test_loss_yaml_targets_the_class(name, cls):
    text = (importlib.resources.files("genbench.conf") / "loss" / f"{name}.yaml").read_text()
    loss = instantiate(OmegaConf.create(text))
    assert type(loss) is cls
