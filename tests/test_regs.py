"""Regularizers against closed forms: gradient penalties on discriminators whose input gradient is
known (linear D(x) = w.x + b has grad w everywhere; quadratic D(x) = 1/2 ||x||^2 has grad x), spectral
normalization on the real discriminators, weight clipping and annealed instance noise."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genbench.nets import dcgan, mlp
from genbench.regs.base import Regularizer
from genbench.regs.clip import WeightClipping
from genbench.regs.dragan import DRAGANPenalty
from genbench.regs.gp import GradientPenalty
from genbench.regs.grad import input_grad_norms, interpolate
from genbench.regs.instance_noise import InstanceNoise
from genbench.regs.r1 import R1Penalty
from genbench.regs.r2 import R2Penalty
from genbench.regs.sn import SpectralNorm

W = (3.0, 4.0)  # ||w|| = 5, ||w||^2 = 25


class LinearD(nn.Module):
    """D(x) = w.x + b on flattened x: grad_x D = w for every x."""

    def __init__(self, w=W, b: float = 0.7):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.w + self.b


class QuadraticD(nn.Module):
    """D(x) = 1/2 ||x||^2: grad_x D = x, so ||grad||^2 = ||x||^2 tells which points were used."""

    def forward(self, x):
        return 0.5 * x.flatten(1).pow(2).sum(1)


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


def batch(n: int = 6, d: int = 2) -> torch.Tensor:
    return torch.randn(n, d, dtype=torch.float64)


# ------------------------------------------------------------------------------------ input grads


def test_input_grad_norms_of_linear_d_is_norm_of_w_per_sample():
    norms = input_grad_norms(LinearD(), batch(4))
    assert norms.shape == (4,)
    assert torch.allclose(norms, torch.full((4,), 5.0, dtype=torch.float64))


def test_input_grad_norms_flattens_image_shaped_inputs():
    # D on (1, 2, 2) images with w = (1, 2, 2, 4): ||w|| = sqrt(1 + 4 + 4 + 16) = 5
    d = LinearD(w=(1.0, 2.0, 2.0, 4.0))
    norms = input_grad_norms(d, torch.randn(3, 1, 2, 2, dtype=torch.float64))
    assert torch.allclose(norms, torch.full((3,), 5.0, dtype=torch.float64))


def test_input_grad_norms_does_not_touch_the_caller_tensor():
    x = batch(3)
    input_grad_norms(LinearD(), x)
    assert not x.requires_grad and x.grad is None


def test_interpolate_mixes_per_sample_on_the_segment():
    # real = 1, fake = 0: x_hat = eps per sample, the same eps for every coordinate of a sample, in [0, 1]
    real, fake = torch.ones(50, 3), torch.zeros(50, 3)
    x_hat = interpolate(real, fake)
    assert x_hat.shape == (50, 3)
    assert torch.equal(x_hat, x_hat[:, :1].expand(-1, 3))
    assert x_hat.min() >= 0 and x_hat.max() <= 1
    assert x_hat[:, 0].unique().numel() > 40  # a fresh eps per sample, not one for the batch


# -------------------------------------------------------------------------------------------- R1/R2


def test_r1_penalty_of_linear_d_is_squared_norm_of_w():
    # ||grad||^2 = ||w||^2 = 9 + 16 = 25 for every sample
    assert R1Penalty(10.0).penalty(LinearD(), batch()).item() == pytest.approx(25.0)


def test_r1_d_penalty_is_half_weight_times_squared_norm():
    # gamma / 2 * ||w||^2 = 10 / 2 * 25 = 125
    out = R1Penalty(10.0).d_penalty(LinearD(), batch(), batch(), step=0)
    assert out.item() == pytest.approx(125.0)


def test_r2_d_penalty_of_linear_d():
    # the same closed form on the fake batch: 4 / 2 * 25 = 50
    out = R2Penalty(4.0).d_penalty(LinearD(), batch(), batch(), step=3)
    assert out.item() == pytest.approx(50.0)


def test_r1_uses_the_real_batch_and_r2_the_fake_one():
    # quadratic D: ||grad D(x)||^2 = ||x||^2.  real rows (3,4), (0,0): mean ||x||^2 = (25 + 0) / 2 = 12.5
    # fake rows (1,0), (0,1): mean = 1.  With weight 2: R1 = 1 * 12.5, R2 = 1 * 1
    real = torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64)
    fake = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert R1Penalty(2.0).d_penalty(QuadraticD(), real, fake, 0).item() == pytest.approx(12.5)
    assert R2Penalty(2.0).d_penalty(QuadraticD(), real, fake, 0).item() == pytest.approx(1.0)


def test_r1_gradient_wrt_w_is_2w():
    # d/dw ||w||^2 = 2w = (6, 8); the bias does not enter the input gradient
    d = LinearD()
    R1Penalty(10.0).penalty(d, batch()).backward()
    assert torch.allclose(d.w.grad, torch.tensor([6.0, 8.0], dtype=torch.float64))
    assert d.b.grad is None or d.b.grad.item() == 0.0


def test_r1_d_penalty_gradient_wrt_w_is_weight_times_w():
    # d/dw gamma/2 ||w||^2 = gamma w = 10 * (3, 4)
    d = LinearD()
    R1Penalty(10.0).d_penalty(d, batch(), batch(), 0).backward()
    assert torch.allclose(d.w.grad, torch.tensor([30.0, 40.0], dtype=torch.float64))


# ---------------------------------------------------------------------------------------------- GP


def test_one_centred_gp_penalty_of_linear_d():
    # (||w|| - 1)^2 = (5 - 1)^2 = 16
    assert GradientPenalty(10.0, center=1.0).penalty(LinearD(), batch()).item() == pytest.approx(16.0)


def test_one_centred_gp_d_penalty_is_weighted():
    # 10 * 16 = 160, whatever interpolates are drawn (the gradient of a linear D is constant)
    out = GradientPenalty(10.0, center=1.0).d_penalty(LinearD(), batch(), batch(), step=0)
    assert out.item() == pytest.approx(160.0)


def test_zero_centred_gp_penalty_is_squared_norm():
    # (||w|| - 0)^2 = 25;  d_penalty with weight 1 (reg=gp0): 25
    gp0 = GradientPenalty(1.0, center=0.0)
    assert gp0.penalty(LinearD(), batch()).item() == pytest.approx(25.0)
    assert gp0.d_penalty(LinearD(), batch(), batch(), 0).item() == pytest.approx(25.0)


def test_gp_is_zero_for_a_unit_gradient_critic():
    # w = (0.6, 0.8): ||w|| = 1, the 1-Lipschitz optimum of WGAN-GP
    assert GradientPenalty(10.0).d_penalty(LinearD(w=(0.6, 0.8)), batch(), batch(), 0).item() == pytest.approx(0.0)


def test_gp_evaluates_on_the_real_fake_segment():
    # quadratic D, real = (2, 0), fake = (0, 0): x_hat = (2 eps, 0), ||grad||^2 = 4 eps^2 in [0, 4];
    # zero-centred penalty = mean 4 eps^2, E = 4/3 for eps ~ U[0, 1]; 2000 samples: std of the mean ~ 0.027
    real = torch.tensor([[2.0, 0.0]], dtype=torch.float64).repeat(2000, 1)
    fake = torch.zeros_like(real)
    out = GradientPenalty(1.0, center=0.0).d_penalty(QuadraticD(), real, fake, 0).item()
    assert out == pytest.approx(4 / 3, abs=0.1)


def test_gp_gradient_wrt_w():
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * (3, 4) / 5 = (4.8, 6.4)
    d = LinearD()
    GradientPenalty(10.0, center=1.0).penalty(d, batch()).backward()
    assert torch.allclose(d.w.grad, torch.tensor([4.8, 6.4], dtype=torch.float64))


def test_gp_d_penalty_does_not_backprop_into_the_fake_batch():
    # the generator must get no gradient from D's penalty
    fake = batch().requires_grad_(True)
    GradientPenalty(10.0).d_penalty(LinearD(), batch(), fake, 0).backward()
    assert fake.grad is None


# ------------------------------------------------------------------------------------------ DRAGAN


def test_dragan_of_linear_d_is_one_centred():
    # the perturbation moves x, but a linear D's gradient is w everywhere: 10 * (5 - 1)^2 = 160
    reg = DRAGANPenalty(weight=10.0, perturbation=0.5)
    assert reg.d_penalty(LinearD(), batch(), batch(), 0).item() == pytest.approx(160.0)
    assert reg.center == 1.0


def test_dragan_perturbs_around_the_real_data():
    # quadratic D, all real points at (1, 1) but for one (0, 0) so std(x) > 0.  x_p = x + alpha * delta,
    # delta = c std(x) U[0,1] >= 0, so every perturbed point is >= x coordinate-wise: ||x_p|| >= ||x||.
    # With c = 0 there is no perturbation: ||grad|| = ||x||, penalty = mean (||x|| - 1)^2 exactly.
    real = torch.ones(20, 2, dtype=torch.float64)
    real[0] = 0.0
    fake = torch.full_like(real, 100.0)  # would blow the penalty up if it were used
    no_noise = DRAGANPenalty(weight=1.0, perturbation=0.0).d_penalty(QuadraticD(), real, fake, 0).item()
    # 19 points with ||x|| = sqrt 2: (sqrt 2 - 1)^2; 1 point at 0: (0 - 1)^2 = 1
    assert no_noise == pytest.approx((19 * (math.sqrt(2) - 1) ** 2 + 1) / 20)
    noisy = DRAGANPenalty(weight=1.0, perturbation=0.5).d_penalty(QuadraticD(), real, fake, 0).item()
    # std(x) over the 40 entries (38 ones, 2 zeros) = sqrt((38 * 0.05^2 + 2 * 0.95^2) / 39) = 0.2207, so every
    # coordinate moves up by alpha * delta in [0, 0.5 * 0.2207] = [0, 0.110]:
    #   the 19 points: ||x_p|| in [1.414, 1.570] -> (||x_p|| - 1)^2 in [0.1716, 0.3249]
    #   the zero point: ||x_p|| in [0, 0.156]     -> (||x_p|| - 1)^2 in [0.7124, 1]
    # mean in [(19 * 0.1716 + 0.7124) / 20, (19 * 0.3249 + 1) / 20] = [0.1986, 0.3587]
    assert 0.198 < noisy < 0.359
    assert noisy != pytest.approx(no_noise, abs=1e-6)


def test_dragan_gradient_wrt_w():
    # weight * d/dw (||w|| - 1)^2 = 10 * (4.8, 6.4)
    d = LinearD()
    DRAGANPenalty(weight=10.0).d_penalty(d, batch(), batch(), 0).backward()
    assert torch.allclose(d.w.grad, torch.tensor([48.0, 64.0], dtype=torch.float64))


# ----------------------------------------------------------------------------- spectral norm


def weight_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]


def top_singular_value(layer: nn.Module) -> float:
    w = layer.weight.detach()
    return torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2).item()


@pytest.mark.parametrize(
    ("build", "shape"),
    [(lambda: dcgan.build_discriminator((3, 32, 32), 64, "none"), (3, 32, 32)),
     (lambda: mlp.build_discriminator((2,)), (2,))],
    ids=["dcgan", "mlp"],
)
def test_spectral_norm_makes_every_layer_1_lipschitz(build, shape):
    d = build()
    layers = weight_layers(d)
    # before: the raw weights are far from unit spectral norm (N(0, 0.02) convs, default-init linears)
    assert any(abs(top_singular_value(m) - 1) > 0.1 for m in layers)
    wrapped = SpectralNorm(n_power_iterations=1).wrap_discriminator(d)
    assert wrapped is d
    assert all(hasattr(m, "parametrizations") and "weight" in m.parametrizations for m in layers)
    d.train()
    x = torch.randn(1, *shape)
    with torch.no_grad():
        for _ in range(50):  # one power iteration per forward pass (after torch's 15 at wrapping)
            d(x)
    d.eval()  # read the normalized weights without another power-iteration update
    for m in layers:
        assert top_singular_value(m) == pytest.approx(1.0, abs=1e-2), m


def test_spectral_norm_wrapping_twice_adds_no_second_parametrization():
    d = mlp.build_discriminator((2,))
    SpectralNorm().wrap_discriminator(d)
    SpectralNorm().wrap_discriminator(d)
    for m in weight_layers(d):
        assert len(m.parametrizations.weight) == 1


def test_spectral_norm_keeps_the_discriminator_trainable():
    d = SpectralNorm().wrap_discriminator(mlp.build_discriminator((2,)))
    d(torch.randn(4, 2)).sum().backward()
    originals = [m.parametrizations.weight.original for m in weight_layers(d)]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in originals)


# ----------------------------------------------------------------------------------- weight clipping


def test_weight_clipping_clamps_every_parameter_and_keeps_inside_values():
    d = LinearD(w=(-1.0, 0.005), b=0.5)
    extra = nn.Linear(2, 2)
    with torch.no_grad():
        extra.weight.copy_(torch.tensor([[0.003, -0.2], [-0.004, 0.0]]))
        extra.bias.copy_(torch.tensor([0.01, -0.01]))
    net = nn.ModuleDict({"d": d, "extra": extra})
    WeightClipping(bound=0.01).after_d_step(net)
    assert torch.equal(d.w.data, torch.tensor([-0.01, 0.005], dtype=torch.float64))
    assert d.b.item() == 0.01
    assert torch.equal(extra.weight.data, torch.tensor([[0.003, -0.01], [-0.004, 0.0]]))
    assert torch.equal(extra.bias.data, torch.tensor([0.01, -0.01]))  # on the bound: unchanged
    for p in net.parameters():
        assert p.abs().max() <= 0.01


def test_weight_clipping_on_a_real_discriminator():
    torch.manual_seed(1)
    d = mlp.build_discriminator((2,))
    before = [p.detach().clone() for p in d.parameters()]
    WeightClipping(bound=0.05).after_d_step(d)
    for p, old in zip(d.parameters(), before, strict=True):
        assert p.abs().max() <= 0.05
        inside = old.abs() <= 0.05
        assert torch.equal(p[inside], old[inside])
        assert torch.equal(p[~inside], 0.05 * old[~inside].sign())


# ----------------------------------------------------------------------------------- instance noise


def test_instance_noise_std_anneals_linearly_to_zero():
    reg = InstanceNoise(std=0.1, anneal_steps=100)
    # std * (1 - step / 100): 0.1, 0.075, 0.05, 0.01, 0, 0 (clamped after the end)
    for step, expected in [(0, 0.1), (25, 0.075), (50, 0.05), (90, 0.01), (100, 0.0), (150, 0.0)]:
        assert reg.current_std(step) == pytest.approx(expected, abs=1e-12)


def test_instance_noise_without_annealing_is_constant():
    for reg in (InstanceNoise(std=0.3, anneal_steps=None), InstanceNoise(std=0.3)):
        assert reg.current_std(0) == reg.current_std(10**6) == 0.3


def test_instance_noise_perturbation_has_the_current_std():
    reg = InstanceNoise(std=0.2, anneal_steps=1000)
    x = torch.full((200_000,), 3.0)
    # step 0: std 0.2; step 500: std 0.1.  200k draws: relative error of the sample std ~ 1/sqrt(2 n) = 0.16%
    for step, std in [(0, 0.2), (500, 0.1)]:
        noise = reg.perturb(x, step) - x
        assert noise.std().item() == pytest.approx(std, rel=0.02)
        assert abs(noise.mean().item()) < 5 * std / math.sqrt(len(x))


def test_instance_noise_is_off_after_annealing():
    reg = InstanceNoise(std=0.2, anneal_steps=10)
    x = torch.randn(5, 2)
    assert torch.equal(reg.perturb(x, 10), x)
    assert torch.equal(reg.perturb(x, 11), x)
    assert not torch.equal(reg.perturb(x, 9), x)


def test_instance_noise_perturbs_each_call_independently():
    reg = InstanceNoise(std=0.1)
    x = torch.zeros(100)
    assert not torch.equal(reg.perturb(x, 0), reg.perturb(x, 0))


# ------------------------------------------------------------------------------------------- base


def test_base_regularizer_hooks_are_no_ops():
    reg, d, x = Regularizer(), LinearD(), batch()
    assert reg.wrap_discriminator(d) is d
    assert reg.perturb(x, 0) is x
    assert reg.d_penalty(d, x, x, 0) is None
    before = d.w.detach().clone()
    reg.after_d_step(d)
    assert torch.equal(d.w.data, before)


def test_the_pure_penalties_add_no_other_hook():
    # a penalty must not also perturb inputs or touch weights
    x = batch()
    for reg in (R1Penalty(), R2Penalty(), GradientPenalty(), DRAGANPenalty()):
        assert reg.perturb(x, 0) is x
        d = LinearD()
        assert reg.wrap_discriminator(d) is d


# ------------------------------------------------------------------------- R1/R2 reuse D's forward


def _gan(regs):
    from genbench.losses.ns import NonSaturatingLoss
    from genbench.modules.gan import GANModule

    g, d = mlp.build_generator((2,), 3, 16), mlp.build_discriminator((2,), 16)
    sgd = {"name": "sgd", "lr": 0.1}
    return GANModule(g, d, NonSaturatingLoss(), regs, z_dim=3, n_critic=1, opt_g=sgd, opt_d=sgd, max_steps=10,
                     log_every=1)


def _d_calls_and_grads(module, real, fake, recompute: bool):
    """(D forwards in one d_objective, the penalties, D's parameter gradients of loss + penalties)."""
    calls = []
    hook = module.discriminator.register_forward_hook(lambda *_: calls.append(1))
    if recompute:  # the path before sharing: every penalty runs D again on its own input
        module.grad_at = set()
    try:
        _, total, penalties = module.d_objective(real, fake)
    finally:
        hook.remove()
    grads = torch.autograd.grad(total, list(module.discriminator.parameters()))
    return len(calls), {k: float(v) for k, v in penalties.items()}, grads


@pytest.mark.parametrize("names", [("r1",), ("r2",), ("r1", "r2")])
def test_r1_and_r2_take_the_input_gradient_of_the_losss_own_forward(names):
    """R1/R2 differentiate the D(x) that D's loss already computed (GAN_stability's way): two D forwards per
    D objective instead of 2 + one per penalty, and the same penalty and D gradient as running D again."""
    regs = [{"r1": R1Penalty, "r2": R2Penalty}[n](weight=10.0) for n in names]
    module = _gan(regs)
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    shared = _d_calls_and_grads(module, real, fake, recompute=False)
    again = _d_calls_and_grads(_gan_like(module, regs), real, fake, recompute=True)
    assert (shared[0], again[0]) == (2, 2 + len(names))
    assert shared[1] == pytest.approx(again[1], rel=1e-6) and set(shared[1]) == set(names)
    for a, b in zip(shared[2], again[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert not real.requires_grad and not fake.requires_grad  # the caller's batches are left alone


def _gan_like(module, regs):
    twin = _gan(regs)
    twin.load_state_dict(module.state_dict())
    return twin


def test_r1_under_instance_noise_still_runs_d_at_the_clean_real_batch():
    """D's loss sees a noisy real batch; R1 is taken at the clean one, so nothing is shared there."""
    module = _gan([InstanceNoise(std=0.5, anneal_steps=0), R1Penalty(weight=10.0)])
    calls, penalties, _ = _d_calls_and_grads(module, torch.randn(16, 2), torch.randn(16, 2), recompute=False)
    assert calls == 3 and penalties["r1"] > 0


def test_r2_on_a_fake_batch_that_is_a_view_of_g_s_parameter():
    """The Dirac generator returns theta.expand(...): under no_grad that view still says requires_grad, so it is
    not shared, and R2 runs D again on a detached copy (it raised "not used in the graph" when taken as is)."""
    from genbench.losses.minimax import MinimaxLoss
    from genbench.modules.gan import GANModule
    from genbench.nets import dirac

    sgd = {"name": "sgd", "lr": 0.1}
    module = GANModule(dirac.build_generator((1,), 1), dirac.build_discriminator((1,)), MinimaxLoss(),
                       [R2Penalty(weight=0.3)], z_dim=1, n_critic=1, opt_g=sgd, opt_d=sgd, max_steps=1, log_every=1)
    with torch.no_grad():
        fake = module.generator(torch.zeros(4, 1))
    _, total, penalties = module.d_objective(torch.zeros(4, 1, dtype=torch.float64), fake)
    assert float(penalties["r2"]) == pytest.approx(0.5 * 0.3 * 1.0)  # ||grad_x (-psi x)||^2 = psi^2 = 1
    total.backward()
