"""Minibatch discrimination (reg=minibatch_disc): the layer against hand-computed exp(-L1) sums, and the
wrapped discriminators of every family: shape, batch equivariance, batch dependence, head width, sn."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import genbench_env, read_json, run_genbench
from torch import nn
from torch.nn.utils import parametrize

from genbench.errors import ConfigError
from genbench.nets import dcgan, mlp, resnet32
from genbench.nets.layers import SplitDiscriminator
from genbench.regs.gp import GradientPenalty
from genbench.regs.minibatch_disc import MinibatchDiscrimination, MinibatchDiscriminationReg, MinibatchHead, pairwise_l1
from genbench.regs.sn import SpectralNorm


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# d_norm=none: batch norm would make D batch-dependent on its own
FAMILIES = [
    pytest.param(lambda: mlp.build_discriminator((2,), 16), (2,), id="mlp-2"),
    pytest.param(lambda: dcgan.build_discriminator((1, 28, 28), 8, "none"), (1, 28, 28), id="dcgan-28"),
    pytest.param(lambda: dcgan.build_discriminator((3, 32, 32), 8, "none"), (3, 32, 32), id="dcgan-32"),
    pytest.param(lambda: resnet32.build_discriminator((3, 32, 32), 16), (3, 32, 32), id="resnet32-32"),
]


def wrapped(build, **kw):
    return MinibatchDiscriminationReg(**{"num_kernels": 7, "kernel_dim": 3, **kw}).wrap_discriminator(build())


def identity_layer(a: int, b: int, c: int, **kw) -> MinibatchDiscrimination:
    """T maps f to M with M_{i,k,:} = f_i (every kernel sees the features unchanged): needs a == c."""
    layer = MinibatchDiscrimination(a, b, c, **kw).double()
    with torch.no_grad():
        layer.T.weight.copy_(torch.eye(a, dtype=torch.float64).repeat(b, 1))
    return layer


# ------------------------------------------------------------------------------------ the layer


def test_layer_on_identical_and_far_apart_pairs_is_exp_of_minus_l1():
    layer = identity_layer(2, 3, 2)
    same = torch.tensor([[0.5, -1.0], [0.5, -1.0]], dtype=torch.float64)
    far = torch.tensor([[0.0, 0.0], [2.0, -1.0]], dtype=torch.float64)  # ||diff||_1 = 3
    o_same, o_far = layer(same), layer(far)
    assert o_same.shape == o_far.shape == (2, 3)
    assert torch.allclose(o_same, torch.ones(2, 3, dtype=torch.float64))  # exp(-0), the other sample only
    assert torch.allclose(o_far, torch.full((2, 3), math.exp(-3.0), dtype=torch.float64))
    assert (o_same > o_far).all()


def test_layer_sums_over_the_others_and_include_self_adds_one():
    layer = identity_layer(1, 1, 1)
    f = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
    expected = torch.tensor([[math.exp(-1) + math.exp(-3)], [math.exp(-1) + math.exp(-2)],
                             [math.exp(-3) + math.exp(-2)]], dtype=torch.float64)
    assert torch.allclose(layer(f), expected)
    with_self = identity_layer(1, 1, 1, include_self=True)
    assert torch.allclose(with_self(f), expected + 1)
    assert torch.equal(layer(f[:1]), torch.zeros(1, 1, dtype=torch.float64))  # a batch of one: no neighbours


def test_layer_kernels_use_their_own_slices_of_t():
    layer = MinibatchDiscrimination(2, 2, 1).double()
    with torch.no_grad():  # kernel 0 reads feature 0, kernel 1 feature 1
        layer.T.weight.copy_(torch.eye(2, dtype=torch.float64))
    f = torch.tensor([[0.0, 0.0], [1.0, 4.0]], dtype=torch.float64)
    assert torch.allclose(layer(f), torch.tensor([[math.exp(-1), math.exp(-4)]] * 2, dtype=torch.float64))


def test_pairwise_l1_matches_broadcasting_and_is_twice_differentiable():
    m = torch.randn(3, 5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(pairwise_l1(m), (m[:, :, None] - m[:, None]).abs().sum(-1))
    assert torch.autograd.gradcheck(pairwise_l1, (m,))
    assert torch.autograd.gradgradcheck(pairwise_l1, (m,))


def test_pairwise_l1_backward_in_chunks_of_kernels_is_the_same(monkeypatch):
    """The backward builds its sign tensor a few kernels at a time (SIGN_CHUNK floats): same gradients, also
    when K is not a multiple of the chunk, and still twice differentiable."""
    from genbench.regs import minibatch_disc

    m = torch.randn(7, 6, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(7, 6, 6, dtype=torch.float64)
    expected, = torch.autograd.grad(((m[:, :, None] - m[:, None]).abs().sum(-1) * weights).sum(), m)
    monkeypatch.setattr(minibatch_disc, "SIGN_CHUNK", 2 * 6 * 6 * 3)  # 2 kernels a chunk: 4 chunks, the last of 1
    got, = torch.autograd.grad((pairwise_l1(m) * weights).sum(), m)
    assert torch.allclose(got, expected)
    assert torch.autograd.gradcheck(pairwise_l1, (m,)) and torch.autograd.gradgradcheck(pairwise_l1, (m,))


# ------------------------------------------------------------------------------------ wrapped discriminators


@pytest.mark.parametrize("build, shape", FAMILIES)
def test_families_keep_the_split_contract(build, shape):
    d = build()
    assert isinstance(d, SplitDiscriminator)
    x = torch.randn(4, *shape)
    h = d.features(x)
    assert h.shape == (4, d.feature_dim)
    assert torch.equal(d.head(h), d(x))


@pytest.mark.parametrize("build, shape", FAMILIES)
def test_wrapped_d_output_shape_and_head_width(build, shape):
    plain = build()
    a = plain.feature_dim
    d = wrapped(build)
    head = d.final_layer()
    assert isinstance(head, MinibatchHead)
    assert head.linear.in_features == a + 7
    assert head.mbd.T.weight.shape == (7 * 3, a)
    out = d(torch.randn(5, *shape))
    assert out.shape == (5,)
    out.sum().backward()
    assert head.linear.weight.grad[:, a:].abs().sum() > 0


@pytest.mark.parametrize("build, shape", FAMILIES)
def test_permuting_the_batch_permutes_the_outputs(build, shape):
    d = wrapped(build)
    x = torch.randn(6, *shape)
    perm = torch.randperm(6)
    assert torch.allclose(d(x[perm]), d(x)[perm], atol=1e-5)


def _perturb_head_o_columns(d):
    with torch.no_grad():  # o's columns start at zero (D starts as the family's D); give them weight
        d.final_layer().linear.weight[:, d.feature_dim:].normal_()


@pytest.mark.parametrize("build, shape", FAMILIES)
def test_outputs_depend_on_the_other_samples_only_with_the_option(build, shape):
    x = torch.randn(4, *shape)
    others = torch.cat([x[:1], torch.randn(3, *shape)])
    plain = build()
    assert torch.allclose(plain(x)[0], plain(others)[0], atol=1e-6)  # without: no dependence
    d = wrapped(build)
    _perturb_head_o_columns(d)
    # the same pair, repeated: sample 0's close neighbours change its score
    close = torch.cat([x[:1], x[:1] + 1e-3 * torch.randn(3, *shape)])
    assert not torch.allclose(d(x)[0], d(close)[0], atol=1e-4)


def test_wrapped_d_equals_the_family_d_at_start():
    torch.manual_seed(3)
    plain = dcgan.build_discriminator((3, 32, 32), 8, "none")
    torch.manual_seed(3)
    d = MinibatchDiscriminationReg().wrap_discriminator(dcgan.build_discriminator((3, 32, 32), 8, "none"))
    x = torch.randn(5, 3, 32, 32)
    assert torch.allclose(d(x), plain(x), atol=1e-5)  # o's columns are zero; the feature columns are D's own


def test_off_keeps_state_dict_keys_and_on_replaces_only_the_final_layer():
    plain = mlp.build_discriminator((2,), 16)
    keys = set(plain.state_dict())
    d = wrapped(lambda: mlp.build_discriminator((2,), 16))
    new = set(d.state_dict())
    assert keys - new == {"net.6.weight", "net.6.bias"}
    assert new - keys == {"net.6.mbd.T.weight", "net.6.linear.weight", "net.6.linear.bias"}


def test_wrapping_twice_is_a_no_op():
    reg = MinibatchDiscriminationReg(num_kernels=4, kernel_dim=2)
    d = reg.wrap_discriminator(mlp.build_discriminator((2,), 16))
    head = d.final_layer()
    assert reg.wrap_discriminator(d).final_layer() is head


def test_a_discriminator_without_the_split_is_a_config_error():
    with pytest.raises(ConfigError, match="minibatch_disc"):
        MinibatchDiscriminationReg().wrap_discriminator(nn.Linear(2, 1))
    with pytest.raises(ConfigError, match="num_kernels"):
        MinibatchDiscriminationReg(num_kernels=0)


# ------------------------------------------------------------------------------------ with other regs


def _is_sn(layer: nn.Module) -> bool:
    return parametrize.is_parametrized(layer, "weight")


@pytest.mark.parametrize("order", ["sn_first", "mbd_first"])
@pytest.mark.parametrize("build, shape", FAMILIES)
def test_composes_with_spectral_norm_in_either_order(build, shape, order):
    regs = [SpectralNorm(), MinibatchDiscriminationReg(num_kernels=7, kernel_dim=3)]
    if order == "mbd_first":
        regs.reverse()
    d = build()
    for reg in regs:
        d = reg.wrap_discriminator(d)
    head = d.final_layer()
    assert _is_sn(head.mbd.T) and _is_sn(head.linear)
    layers = [m for m in d.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert all(_is_sn(m) for m in layers)
    for _ in range(30):  # power iteration converges: every normalized weight has spectral norm ~1
        d(torch.randn(4, *shape))
    d.eval()
    with torch.no_grad():
        for m in (head.mbd.T, head.linear):
            assert torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_gradient_penalty_runs_through_the_layer():
    d = wrapped(lambda: mlp.build_discriminator((2,), 16))
    _perturb_head_o_columns(d)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    penalty = GradientPenalty(weight=1.0, center=0.0).d_penalty(d, real, fake, 0)
    penalty.backward()
    assert torch.isfinite(penalty) and d.final_layer().mbd.T.weight.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------ end to end


def test_cli_run_with_gp0_and_minibatch_disc(tmp_path):
    result = run_genbench(["reg=[gp0,minibatch_disc]", "debug=fast", "logger=none", "hydra.run.dir=run",
                           "dataset.batch_size=64", "train.max_steps=10", "eval.every=10", "eval.n=128"],
                          tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    assert read_json(run / "run.json")["status"] == "completed"
    final = read_json(run / "metrics.json")["final"]
    assert final["step"] == 10 and math.isfinite(final["loss/d"]) and "reg/gp0" in final
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert any(".mbd.T." in key for key in ckpt["state_dict"])


@pytest.mark.slow
def test_cli_mnist_run_with_minibatch_disc(tmp_path, mnist_root):
    result = run_genbench(["reg=minibatch_disc", "dataset=mnist", "debug=fast", "logger=none", "hydra.run.dir=run",
                           "train.max_steps=4", "eval.every=4", "eval.n=128", "train.sample_every=4",
                           "train.checkpoint_every=4", "metrics=none"],
                          tmp_path, timeout=240, env=genbench_env(GENBENCH_DATA=str(mnist_root)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_json(tmp_path / "run" / "run.json")["status"] == "completed"
    assert math.isfinite(read_json(tmp_path / "run" / "metrics.json")["final"]["loss/d"])
