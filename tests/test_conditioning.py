"""Generator conditioning (Odena et al. 2018): the `conditioning` metric and `reg=jacobian_clamp`, checked on linear
generators G(z) = A z, whose Jacobian is A everywhere, and end to end through the `genbench` executable."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import read_json, run_genbench
from torch import nn

from genbench.metrics.base import EvalContext
from genbench.metrics.conditioning import GeneratorConditioning, conditioning_stats, generator_jacobians
from genbench.regs.jacobian_clamp import JacobianClamp


def linear_generator(a: np.ndarray) -> nn.Linear:
    g = nn.Linear(a.shape[1], a.shape[0], bias=False)
    with torch.no_grad():
        g.weight.copy_(torch.as_tensor(a, dtype=torch.float32))
    return g


def with_singular_values(out_dim: int, z_dim: int, sigmas, seed: int = 0) -> np.ndarray:
    """A = U diag(sigmas) V^T with random orthonormal U (out x k), V (z_dim x k), k = len(sigmas)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((out_dim, len(sigmas))))
    v, _ = np.linalg.qr(rng.standard_normal((z_dim, len(sigmas))))
    return u @ np.diag(sigmas) @ v.T


@pytest.mark.parametrize("out_dim", [12, 5])  # J^T J (out >= z_dim), and J J^T's spectrum (out < z_dim)
def test_metric_of_a_linear_generator_is_log_cond_of_its_metric_tensor(out_dim):
    z_dim = 5
    a = np.random.default_rng(1).standard_normal((out_dim, z_dim)).astype(np.float32)
    g = linear_generator(a)
    metric = GeneratorConditioning(n_z=16)
    module = SimpleNamespace(sampler=g, z_dim=z_dim, device=torch.device("cpu"),
                             noise=lambda n, generator: torch.randn(n, z_dim, generator=generator))
    result = metric(torch.zeros(1, out_dim), None, EvalContext(module=module))
    a64 = a.astype(np.float64)
    expected = np.log(np.linalg.cond(a64.T @ a64))
    assert result["conditioning/log_cond_mean"] == pytest.approx(expected, rel=1e-5)
    assert result["conditioning/log_cond_std"] == pytest.approx(0.0, abs=1e-6)  # the same J at every z
    assert metric.headline == "conditioning/log_cond_mean" and not metric.higher_is_better


def test_metric_of_a_generator_with_fewer_outputs_than_z_uses_its_nonzero_spectrum():
    a = with_singular_values(2, 8, [3.0, 0.5])
    stats = conditioning_stats(linear_generator(a), torch.randn(4, 8))
    assert stats["conditioning/log_cond_mean"] == pytest.approx(np.log(36.0), rel=1e-5)


def test_jacobians_match_per_sample_autograd_and_restore_train_mode():
    g = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 7))
    g(torch.randn(32, 3))  # running statistics differ from their init
    g.train()
    z = torch.randn(4, 3)
    jac = generator_jacobians(g, z)
    assert g.training
    g.eval()  # the documented mode: BatchNorm on its running statistics
    for i in range(len(z)):
        ref = torch.autograd.functional.jacobian(lambda zi: g(zi[None]).flatten(), z[i])
        torch.testing.assert_close(jac[i], ref, rtol=1e-5, atol=1e-6)
    narrow = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))  # out < z_dim: reverse mode
    z6 = z.repeat(1, 2)
    ref = torch.stack([torch.autograd.functional.jacobian(lambda zi: narrow(zi[None]).flatten(), zi) for zi in z6])
    torch.testing.assert_close(generator_jacobians(narrow, z6), ref, rtol=1e-5, atol=1e-6)


def clamp_penalty(a: np.ndarray, batch: int = 256, **kw) -> torch.Tensor:
    g = linear_generator(a)
    z = torch.randn(batch, a.shape[1])
    return JacobianClamp(**kw).g_penalty(g, z, g(z), step=0)


def test_clamp_is_zero_when_every_singular_value_lies_in_the_band():
    """For G(z) = A z, Q = ||A (eps v)|| / ||eps v|| = ||A v|| with v a unit vector, so
    sigma_min(A) <= Q <= sigma_max(A), both ends reached for some v (eps drops out: G is linear). The penalty
    compares Q itself with the lambdas (not Q^2, not sqrt(lambda)): it is zero for every v iff
    lambda_min <= sigma_min(A) and sigma_max(A) <= lambda_max, i.e. the eigenvalues sigma^2 of A^T A lie in
    [lambda_min^2, lambda_max^2]. Here sigma in [1.2, 18] and the band is the default [1, 20]."""
    a = with_singular_values(10, 6, [1.2, 2.0, 5.0, 9.0, 14.0, 18.0])
    assert clamp_penalty(a).item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize(("scale", "expected"), [(0.5, 0.25), (30.0, 100.0)])
def test_clamp_is_positive_outside_the_band(scale, expected):
    """A = s I: Q = s for every v, so the penalty is (s - 1)^2 below the band and (s - 20)^2 above it."""
    value = clamp_penalty(scale * np.eye(4), weight=1.0)
    assert value.item() == pytest.approx(expected, rel=1e-4)
    assert clamp_penalty(scale * np.eye(4), weight=3.0).item() == pytest.approx(3 * expected, rel=1e-4)


def test_clamp_is_positive_when_part_of_the_spectrum_leaves_the_band():
    """v is random, so a penalty sees an out-of-band singular value only through the v that make Q leave the band:
    here Q = ||A v|| < 1 whenever v is mostly in the three small directions, which a batch of 256 always hits."""
    a = with_singular_values(8, 4, [0.1, 0.1, 0.1, 2.0])
    assert clamp_penalty(a).item() > 1e-3


@pytest.mark.parametrize("scale", [0.5, 30.0])
def test_clamp_gradient_pushes_q_into_the_band(scale):
    g = linear_generator(scale * np.eye(4))
    reg = JacobianClamp()
    opt = torch.optim.SGD(g.parameters(), lr=1e-3)
    z = torch.randn(64, 4)
    before = reg.quotients(g, z, g(z)).mean().item()
    for _ in range(3):
        opt.zero_grad()
        reg.g_penalty(g, z, g(z), step=0).backward()
        opt.step()
    after = reg.quotients(g, z, g(z)).mean().item()
    assert (after > before) if scale < 1 else (after < before)


def test_clamp_rejects_a_bad_band():
    with pytest.raises(ValueError):
        JacobianClamp(lambda_min=5.0, lambda_max=2.0)


def test_simultaneous_updates_add_the_generator_penalty():
    """game_gradients (simultaneous steps, consensus, the Dirac analysis) adds g_penalty to G's objective."""
    from genbench.losses.ns import NonSaturatingLoss
    from genbench.modules.gan import GANModule

    def grads(weight):
        torch.manual_seed(0)
        g, d = linear_generator(0.5 * np.eye(3)), nn.Linear(3, 1)
        reg = JacobianClamp(weight=weight)
        module = GANModule(g, d, NonSaturatingLoss(), [reg], z_dim=3, n_critic=1, opt_g={"name": "sgd", "lr": 0.1},
                           opt_d={"name": "sgd", "lr": 0.1}, max_steps=1, log_every=1, updates="simultaneous")
        _, grads_g, stats = module.game_gradients(torch.randn(8, 3), torch.randn(8, 3))
        return grads_g, stats

    plain, _ = grads(0.0)
    clamped, stats = grads(1.0)
    assert stats["reg/jacobian_clamp"].item() == pytest.approx(0.25, rel=1e-4)
    assert not torch.allclose(plain[0], clamped[0])


def test_cli_jacobian_clamp_composes_with_gp0(tmp_path):
    result = run_genbench(["reg=[gp0,jacobian_clamp]", "debug=fast", "logger=none", "hydra.run.dir=run"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    final = read_json(tmp_path / "run" / "metrics.json")["final"]
    assert final["reg/jacobian_clamp"] >= 0 and final["reg/gp0"] >= 0, final


def test_cli_conditioning_metric(tmp_path):
    result = run_genbench(["metrics=[modes,conditioning]", "debug=fast", "logger=none", "hydra.run.dir=run"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_json(tmp_path / "run" / "metrics.json")
    final = metrics["final"]
    assert np.isfinite(final["conditioning/log_cond_mean"]) and final["conditioning/log_cond_mean"] >= 0, final
    assert np.isfinite(final["conditioning/log_cond_std"]), final
    assert all("conditioning/log_cond_mean" in row for row in metrics["history"])
