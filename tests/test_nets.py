"""The network families: output shapes on every supported size, the errors for unsupported sizes and
unknown families, the DCGAN guidelines checked on the module structure, and the normalization options."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from genbench import nets
from genbench.errors import ConfigError
from genbench.nets import dcgan, mlp, resnet32
from genbench.nets.layers import norm2d, size_ladder

IMAGE_SHAPES = [(1, 28, 28), (3, 32, 32), (1, 32, 32), (3, 64, 64)]
FAMILIES = {"dcgan": dcgan, "resnet32": resnet32}
Z_DIM = 8
B = 3
POOLING = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
           nn.LPPool2d, nn.FractionalMaxPool2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


def modules_of(net: nn.Module, kind) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, kind)]


# ------------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("shape", IMAGE_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_image_nets_shapes_and_range(family, shape):
    module = FAMILIES[family]
    g = module.build_generator(shape, Z_DIM, 16, "batch")
    d = module.build_discriminator(shape, 16, "batch")
    z = torch.randn(B, Z_DIM)
    x = g(z)
    assert x.shape == (B, *shape)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert x.std() > 0  # not a constant image
    out = d(x)
    assert out.shape == (B,)
    assert torch.isfinite(out).all()
    # D gives different samples different scores (the batch is not collapsed to one value)
    assert out.unique().numel() == B


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_image_nets_with_default_width(family):
    module = FAMILIES[family]
    g, d = module.build_generator((1, 28, 28), Z_DIM), module.build_discriminator((1, 28, 28))
    assert g(torch.randn(2, Z_DIM)).shape == (2, 1, 28, 28)
    assert d(torch.randn(2, 1, 28, 28)).shape == (2,)


def test_mlp_shapes_and_default_width():
    g, d = mlp.build_generator((2,), Z_DIM), mlp.build_discriminator((2,))
    x = g(torch.randn(B, Z_DIM))
    assert x.shape == (B, 2)
    assert d(x).shape == (B,)
    # default width 128; layers z -> 128 -> 128 -> 128 -> 2 and 2 -> 128 -> 128 -> 128 -> 1
    assert [(m.in_features, m.out_features) for m in modules_of(g, nn.Linear)] == [
        (Z_DIM, 128), (128, 128), (128, 128), (128, 2)]
    assert [(m.in_features, m.out_features) for m in modules_of(d, nn.Linear)] == [
        (2, 128), (128, 128), (128, 128), (128, 1)]


def test_mlp_activations_and_unbounded_output():
    g, d = mlp.build_generator((2,), Z_DIM, 32), mlp.build_discriminator((2,), 32)
    # one activation instance is shared by the three hidden layers, so count the Sequential's entries
    kinds_g, kinds_d = [type(m) for m in g.net], [type(m) for m in d.net]
    assert kinds_g == [nn.Linear, nn.ReLU] * 3 + [nn.Linear]
    assert kinds_d == [nn.Linear, nn.LeakyReLU] * 3 + [nn.Linear]
    assert all(m.negative_slope == 0.2 for m in modules_of(d, nn.LeakyReLU))
    assert not modules_of(g, NORMS) and not modules_of(d, NORMS)
    # the last layer is linear (2D data is not confined to [-1, 1]): scaling its weight scales the output
    z = torch.randn(B, Z_DIM)
    last = modules_of(g, nn.Linear)[-1]
    with torch.no_grad():
        last.weight.mul_(1000)
        last.bias.mul_(1000)
    assert g(z).abs().max() > 1


def test_mlp_discriminator_flattens_its_input():
    d = mlp.build_discriminator((1, 4, 4), 16)
    assert d(torch.randn(B, 1, 4, 4)).shape == (B,)


def test_single_sample_batches_keep_the_batch_dimension():
    d = dcgan.build_discriminator((1, 28, 28), 8, "none")
    assert d(torch.randn(1, 1, 28, 28)).shape == (1,)
    assert mlp.build_discriminator((2,))(torch.randn(1, 2)).shape == (1,)


# ---------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("which", ["generator", "discriminator"])
def test_unsupported_image_size_names_the_key_and_the_sizes(family, which):
    module = FAMILIES[family]
    with pytest.raises(ConfigError) as err:
        if which == "generator":
            module.build_generator((1, 30, 30), Z_DIM, 8, "batch")
        else:
            module.build_discriminator((1, 30, 30), 8, "batch")
    message = str(err.value)
    assert "dataset.image_size=30" in message
    assert family in message
    for size in ("28", "32", "64"):
        assert size in message


def test_non_square_images_are_refused():
    with pytest.raises(ConfigError, match="square"):
        dcgan.build_generator((3, 32, 28), Z_DIM)


def test_size_ladder():
    # 28 = 7 * 2^2, 32 = 4 * 2^3, 64 = 4 * 2^4, 8 = 4 * 2, 14 = 7 * 2;  4 and 7 alone need no upsampling: refused
    assert size_ladder((1, 28, 28), "x") == (7, 2)
    assert size_ladder((3, 32, 32), "x") == (4, 3)
    assert size_ladder((3, 64, 64), "x") == (4, 4)
    assert size_ladder((3, 8, 8), "x") == (4, 1)
    assert size_ladder((3, 14, 14), "x") == (7, 1)
    for bad in (4, 7, 30, 48, 100):
        with pytest.raises(ConfigError, match=f"dataset.image_size={bad} "):
            size_ladder((3, bad, bad), "x")


def test_available_families():
    assert nets.available() == ["dcgan", "dirac", "mlp", "resnet32"]  # layers.py holds shared parts: no family


def nets_cfg(**kw):
    base = {"vector": "mlp", "image": "dcgan", "width": 8, "g_norm": "batch", "d_norm": "batch"}
    return OmegaConf.create({**base, **kw})


def test_build_nets_unknown_image_family():
    with pytest.raises(ConfigError) as err:
        nets.build_nets(nets_cfg(image="vgg16"), (3, 32, 32), Z_DIM)
    message = str(err.value)
    assert "model.nets.image='vgg16'" in message
    assert "dcgan, dirac, mlp, resnet32" in message


def test_build_nets_unknown_vector_family():
    with pytest.raises(ConfigError) as err:
        nets.build_nets(nets_cfg(vector="transformer"), (2,), Z_DIM)
    assert "model.nets.vector='transformer'" in str(err.value)
    assert "dcgan, dirac, mlp, resnet32" in str(err.value)


def test_build_nets_shared_parts_module_is_not_a_family():
    with pytest.raises(ConfigError, match="'layers' is not a network"):
        nets.build_nets(nets_cfg(image="layers"), (3, 32, 32), Z_DIM)


def test_build_nets_picks_by_data_shape_and_passes_options():
    g, d = nets.build_nets(nets_cfg(image="resnet32"), (2,), Z_DIM)
    assert isinstance(g, mlp.MLPGenerator) and isinstance(d, mlp.MLPDiscriminator)
    assert modules_of(g, nn.Linear)[0].out_features == 8  # width 8
    g, d = nets.build_nets(nets_cfg(width=16, g_norm="none", d_norm="layer"), (3, 32, 32), Z_DIM)
    assert isinstance(g, dcgan.DCGANGenerator) and isinstance(d, dcgan.DCGANDiscriminator)
    assert modules_of(d, nn.Conv2d)[0].out_channels == 16
    assert not modules_of(g, NORMS)
    assert modules_of(d, nn.GroupNorm) and not modules_of(d, nn.BatchNorm2d)
    g, d = nets.build_nets(nets_cfg(image="resnet32", width=16), (3, 32, 32), Z_DIM)
    assert isinstance(g, resnet32.ResNetGenerator) and isinstance(d, resnet32.ResNetDiscriminator)


def test_build_nets_width_null_is_the_family_default():
    g, d = nets.build_nets(nets_cfg(width=None), (1, 28, 28), Z_DIM)
    # DCGAN default 64: D's first conv has 64 channels; G starts at 64 * 2^(2-1) = 128 channels for 28x28
    assert modules_of(d, nn.Conv2d)[0].out_channels == 64
    assert modules_of(g, nn.ConvTranspose2d)[0].out_channels == 128


def test_unknown_norm_is_a_config_error():
    with pytest.raises(ConfigError, match="batch, layer, none"):
        norm2d("instance", 8)
    with pytest.raises(ConfigError):
        dcgan.build_discriminator((3, 32, 32), 8, "spectral")


# ------------------------------------------------------------------------------- DCGAN guidelines


@pytest.mark.parametrize("shape", IMAGE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_dcgan_guidelines(shape):
    g = dcgan.build_generator(shape, Z_DIM, 8, "batch")
    d = dcgan.build_discriminator(shape, 8, "batch")
    g_layers, d_layers = list(g.net), list(d.net)
    for net in (g, d):
        assert not modules_of(net, POOLING)  # strided convolutions instead of pooling
        assert not modules_of(net, nn.Linear)  # no hidden fully connected layers
    # G: ReLU inside, Tanh at the output, no batch norm on the output layer
    assert isinstance(g_layers[-1], nn.Tanh)
    assert isinstance(g_layers[-2], nn.ConvTranspose2d) and g_layers[-2].out_channels == shape[0]
    assert not modules_of(g, nn.LeakyReLU) and modules_of(g, nn.ReLU)
    assert len(modules_of(g, nn.BatchNorm2d)) == len(modules_of(g, nn.ConvTranspose2d)) - 1
    # fractionally-strided upsampling: every ConvTranspose after the first has stride 2
    assert all(m.stride == (2, 2) for m in modules_of(g, nn.ConvTranspose2d)[1:])
    # D: the first conv is followed directly by LeakyReLU(0.2) (no batch norm on D's input layer)
    assert isinstance(d_layers[0], nn.Conv2d) and d_layers[0].in_channels == shape[0]
    assert isinstance(d_layers[1], nn.LeakyReLU)
    leaky = modules_of(d, nn.LeakyReLU)
    assert leaky and all(m.negative_slope == 0.2 for m in leaky)
    assert not [m for m in d.modules() if type(m) is nn.ReLU]
    # D downsamples by strided convs only: every conv but the last has stride 2; the last gives 1 logit
    convs = modules_of(d, nn.Conv2d)
    assert all(m.stride == (2, 2) for m in convs[:-1])
    assert convs[-1].out_channels == 1
    # batch norm on every hidden conv of D, not on the first or last: one fewer than convs - 1
    assert len(modules_of(d, nn.BatchNorm2d)) == len(convs) - 2
    assert not isinstance(d_layers[-1], (nn.Sigmoid, nn.Tanh))  # D returns logits


def test_dcgan_weights_are_drawn_from_n_0_002():
    g = dcgan.build_generator((3, 64, 64), Z_DIM, 32, "batch")
    d = dcgan.build_discriminator((3, 64, 64), 32, "batch")
    for net in (g, d):
        weights = torch.cat([m.weight.detach().flatten() for m in modules_of(net, (nn.Conv2d, nn.ConvTranspose2d))])
        assert weights.numel() > 100_000
        assert weights.std().item() == pytest.approx(0.02, rel=0.02)
        assert abs(weights.mean().item()) < 1e-3
        gammas = torch.cat([m.weight.detach() for m in modules_of(net, nn.BatchNorm2d)])
        assert gammas.mean().item() == pytest.approx(1.0, abs=0.01)
        assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in modules_of(net, nn.BatchNorm2d))


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)], ids=["32", "28"])
def test_dcgan_layer_norm_is_groupnorm_with_one_group(shape):
    d = dcgan.build_discriminator(shape, 8, "layer")
    layers = list(d.net)
    groups = modules_of(d, nn.GroupNorm)
    assert groups and not modules_of(d, nn.BatchNorm2d)
    for i, m in enumerate(layers):
        if isinstance(m, nn.GroupNorm):
            assert m.num_groups == 1
            assert isinstance(layers[i - 1], nn.Conv2d) and m.num_channels == layers[i - 1].out_channels
    # every hidden conv is normalized: convs minus the input and output ones
    assert len(groups) == len(modules_of(d, nn.Conv2d)) - 2
    # GroupNorm(1, C) normalizes each sample over (C, H, W): D's scores do not depend on the batch
    x = torch.randn(4, *shape)
    d.train()
    assert torch.allclose(d(x)[:2], d(x[:2]), atol=1e-5)


def test_dcgan_norm_none_has_no_norm_layers_and_biased_convs():
    g = dcgan.build_generator((3, 32, 32), Z_DIM, 8, "none")
    d = dcgan.build_discriminator((3, 32, 32), 8, "none")
    assert not modules_of(g, NORMS) and not modules_of(d, NORMS)
    # without a norm to absorb it, every D conv keeps its bias
    assert all(m.bias is not None for m in modules_of(d, nn.Conv2d))
    # with batch norm the hidden convs drop it (BN's shift replaces it)
    hidden = modules_of(dcgan.build_discriminator((3, 32, 32), 8, "batch"), nn.Conv2d)[1:-1]
    assert hidden and all(m.bias is None for m in hidden)


def test_dcgan_batch_norm_d_depends_on_the_batch_in_train_mode():
    # the contrast to layer norm above: with BatchNorm the same sample scores differently in another batch
    d = dcgan.build_discriminator((3, 32, 32), 8, "batch").train()
    x = torch.randn(4, 3, 32, 32)
    assert not torch.allclose(d(x)[:2], d(x[:2]), atol=1e-5)


# ------------------------------------------------------------------------------------------ resnet


@pytest.mark.parametrize(("shape", "blocks"), [((1, 28, 28), 2), ((3, 32, 32), 3), ((3, 64, 64), 4)])
def test_resnet_generator_ladder(shape, blocks):
    # start 7 (28) or 4 (32, 64), one up-sampling block per doubling
    g = resnet32.build_generator(shape, Z_DIM, 16, "batch")
    assert len(g.blocks) == blocks
    assert g.linear.out_features == g.start * g.start * 16


def test_resnet_norm_options():
    g = resnet32.build_generator((3, 32, 32), Z_DIM, 16, "batch")
    assert modules_of(g, nn.BatchNorm2d)
    assert not modules_of(resnet32.build_generator((3, 32, 32), Z_DIM, 16, "none"), NORMS)
    # the SNGAN discriminator: no normalization layers, half the generator's width
    d = resnet32.build_discriminator((3, 32, 32), 16)
    assert not modules_of(d, NORMS)
    assert d.linear.in_features == 8


def test_mlp_generator_gives_images_of_the_data_shape():
    """model.nets.image=mlp: G's samples are (N, C, H, W) like the data, so gp/gp0 and BGAN can mix real and fake."""
    g = nets.family("mlp", "model.nets.image").build_generator((1, 28, 28), 8, 16)
    assert g(torch.randn(3, 8)).shape == (3, 1, 28, 28)
