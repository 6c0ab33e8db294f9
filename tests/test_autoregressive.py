"""Autoregressive models (model=pixelcnn): the masks checked by gradients (output i independent of inputs >= i, and
no blind spot), the row-cached sampler against the whole net, the output distributions normalized, and runs through
the `genbench` executable: MADE on ring8 with exact resume, the gated PixelCNN on binarized MNIST with the nll metric
and resume."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import assert_resumed_like_twin, genbench_env, read_json, run_genbench

from genbench.autoregressive.made import MADE
from genbench.autoregressive.outputs import BernoulliPixels, GaussianMixture1D, LogisticMixturePixels
from genbench.autoregressive.pixelcnn import GatedPixelCNN, sample_pixels


def _pixel_dependencies(net: torch.nn.Module, shape: tuple[int, int, int], params: int) -> torch.Tensor:
    """(H*W, H*W) bool: [p, q] = the parameters at pixel p have a nonzero gradient with respect to pixel q."""
    c, h, w = shape
    deps = torch.zeros(h * w, h * w, dtype=torch.bool)
    for p in range(h * w):
        x = torch.randn(2, c, h, w, dtype=torch.float64, requires_grad=True)
        out = net(x)
        out[:, :, p // w, p % w].sum().backward()
        deps[p] = x.grad.abs().sum((0, 1)).flatten() > 0
    return deps


@pytest.mark.parametrize("channels, params", [(1, 1), (3, 20)])
def test_pixelcnn_output_at_a_pixel_depends_only_and_fully_on_the_pixels_before_it(channels, params,
                                                                                   seeded_one_thread):
    """Gradients: the parameters at pixel i have zero gradient with respect to every pixel >= i (raster order, all
    channels), and a nonzero one with respect to every pixel < i (no blind spot; the net reaches the whole 6 x 6
    image: 4 layers of k = 3 after the first's k = 5)."""
    net = GatedPixelCNN(channels, params, width=8, layers=5, first_kernel=5, kernel=3, head=16).double()
    deps = _pixel_dependencies(net, (channels, 6, 6), params)
    before = torch.ones(36, 36, dtype=torch.bool).tril(-1)  # [p, q]: q < p
    assert not (deps & ~before).any(), "an output depends on its own pixel or a later one"
    assert torch.equal(deps, before), "blind spot: an output ignores an earlier pixel"


def test_made_output_i_is_independent_of_inputs_at_or_after_i(seeded_one_thread):
    """Gradients of MADE's conditionals on 5 dimensions: d(params_i)/d(x_j) = 0 for j >= i, != 0 for j < i."""
    made = MADE(5, [32, 32], components=3).double()
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    out = made(x)
    for i in range(5):
        (grad,) = torch.autograd.grad(out[:, i].sum(), x, retain_graph=True)
        used = grad.abs().sum(0) > 0
        assert torch.equal(used, torch.arange(5) < i), (i, used)


def test_row_cache_gives_the_whole_nets_parameters_and_samples(seeded_one_thread):
    """The cached per-pixel parameters equal the full forward pass's at every pixel; sampling with and without the
    cache from the same uniforms gives the same images (both output kinds)."""
    for out in (BernoulliPixels(1), LogisticMixturePixels(3, 2)):
        c = 1 if isinstance(out, BernoulliPixels) else 3
        net = GatedPixelCNN(c, out.params_per_pixel, width=8, layers=3, first_kernel=5, kernel=3, head=16).double()
        x = torch.rand(3, c, 5, 9, dtype=torch.float64) * 2 - 1
        full = net(x)
        assert net.horizontal_reach == 4  # so columns 5.. see a window that does not start at the left edge
        for i, terms in enumerate(net.vertical_rows(x)):
            for j in range(9):
                assert torch.allclose(net.pixel_params(x, i, j, terms), full[:, :, i, j], atol=1e-12), (i, j)
        assert i == 4
        u = torch.rand(4, 5 * 9 * out.uniforms_per_pixel, dtype=torch.float64)
        cached = sample_pixels(net, out, u, (c, 5, 9), cache=True)
        assert torch.equal(cached, sample_pixels(net, out, u, (c, 5, 9), cache=False))
        assert cached.shape == (4, c, 5, 9)


def test_logistic_mixture_sums_to_one_over_the_256_levels_and_samples_it(seeded_one_thread):
    """Grey: exp(log p) over the 256 levels sums to 1 for random parameters; 20000 draws from uniforms follow the
    pmf (total variation < 0.05). Colour: the 256^2 joint of two channels (with the coefficient) sums to 1."""
    out = LogisticMixturePixels(1, 3)
    params = torch.randn(1, out.params_per_pixel, 1, 1, dtype=torch.float64)
    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    log_p = torch.stack([out.log_prob(params, v.view(1, 1, 1, 1)) for v in levels])[:, 0]
    assert float(log_p.exp().sum()) == pytest.approx(1.0, abs=1e-9)
    draws = out.sample(params[:, :, 0, 0].expand(20000, -1), torch.rand(20000, 2, dtype=torch.float64))
    counts = torch.bincount(((draws[:, 0] + 1) * 127.5).round().long(), minlength=256).double() / 20000
    assert 0.5 * float((counts - log_p.exp()).abs().sum()) < 0.05
    two = LogisticMixturePixels(2, 2)
    params = torch.randn(1, two.params_per_pixel, 1, 1, dtype=torch.float64)
    grid = torch.cartesian_prod(levels, levels).view(-1, 2, 1, 1)
    total = two.log_prob(params.expand(len(grid), -1, -1, -1), grid).exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-9)


def test_gaussian_mixture_per_coordinate_integrates_to_one(seeded_one_thread):
    out = GaussianMixture1D(4)
    params = torch.randn(1, 1, 12, dtype=torch.float64)
    x = torch.linspace(-30, 30, 200001, dtype=torch.float64)
    density = out.log_prob(params.expand(len(x), -1, -1), x[:, None]).exp()
    assert float(torch.trapezoid(density, x)) == pytest.approx(1.0, abs=1e-6)


FEW = ["train.log_every=50", "train.sample_every=200", "train.checkpoint_every=200", "eval.every=200",
       "eval.n=500", "logger=csv", "metrics.toy_nll.grid=256", "hardware.threads=1"]


def _ckpt(run) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def _final(run) -> dict:
    return {k: v for k, v in read_json(run / "metrics.json")["final"].items() if not k.startswith("time/")}


def test_made_on_ring8_learns_the_density_and_resumes_exactly(tmp_path):
    """`genbench model=pixelcnn` on the default ring8: 400 steps against 200 + resume=<dir> to 400, the same weights
    and final metrics to the bit; the density is near the floor, samples cover the 8 modes."""
    twin = run_genbench(["model=pixelcnn", "hydra.run.dir=twin", "train.max_steps=400", *FEW], tmp_path)
    assert twin.returncode == 0, twin.stderr[-3000:]
    first = run_genbench(["model=pixelcnn", "hydra.run.dir=run", "train.max_steps=200", *FEW], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_genbench(["resume=run", "train.max_steps=400"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    run = tmp_path / "run"
    assert_resumed_like_twin(run, tmp_path / "twin", 400)
    final = _final(run)
    assert final == _final(tmp_path / "twin")
    assert final["modes/covered"] == 8 and final["toy_nll/gap"] < 0.4 and abs(final["toy_nll/log_z"]) < 2e-2, final
    assert read_json(run / "metrics.json")["best"]["metric"] == "toy_nll/value"
    assert "train/nll" in (run / "csv" / "metrics.csv").read_text()
    assert (run / "samples" / "step_400.png").is_file()


SMALL = ["model.nets.width=16", "model.pixelcnn.layers=3", "model.pixelcnn.head=32", "dataset.batch_size=16",
         "logger=csv", "train.log_every=5", "train.sample_every=10", "train.checkpoint_every=5", "eval.every=10",
         "metrics.nll.n=200", "hardware.threads=1"]


def test_pixelcnn_on_binarized_mnist_reports_exact_nll_fid_and_resumes_exactly(tmp_path, mnist_root):
    """A few steps of the gated PixelCNN on statically binarized MNIST: the exact test NLL (nats and bits/dim)
    falls, FID on 64 samples through the classifier features, and resume to 10 steps equals the 10-step twin."""
    env = genbench_env(GENBENCH_DATA=str(mnist_root))
    base = ["model=pixelcnn", "dataset=mnist", "dataset.binarize=static", *SMALL]
    twin = run_genbench([*base, "hydra.run.dir=twin", "train.max_steps=10", "metrics=[nll]"], tmp_path, env=env)
    assert twin.returncode == 0, twin.stderr[-3000:]
    first = run_genbench([*base, "hydra.run.dir=run", "train.max_steps=5", "metrics=[nll]"], tmp_path, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_genbench(["resume=run", "train.max_steps=10"], tmp_path, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    resumed, uninterrupted = _ckpt(tmp_path / "run")["state_dict"], _ckpt(tmp_path / "twin")["state_dict"]
    for key in resumed:
        assert torch.equal(resumed[key], uninterrupted[key]), key
    metrics = read_json(tmp_path / "run" / "metrics.json")
    final = metrics["final"]
    assert _final(tmp_path / "run") == _final(tmp_path / "twin")
    assert final["nll/n"] == 200 and final["nll/k"] == 0  # exact: no importance samples
    assert final["nll/bits_per_dim"] == pytest.approx(final["nll/value"] / (784 * math.log(2)))
    assert final["nll/value"] < 784 * math.log(2)  # better than a coin per pixel after 10 steps
    assert metrics["best"]["metric"] == "nll/value"

    sampled = run_genbench([*base, "hydra.run.dir=fid", "train.max_steps=2", "eval.every=2", "eval.n=64",
                            "metrics=[nll,fid]", "eval.extractor=classifier", "eval.classifier.train_size=2000",
                            "eval.classifier.epochs=1", "eval.classifier.width=16"], tmp_path, env=env)
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    final = read_json(tmp_path / "fid" / "metrics.json")["final"]
    assert final["fid/value"] > 0 and final["nll/value"] > 0, final
    assert (tmp_path / "fid" / "samples" / "step_2.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["loss=ns"], "trains by its own (an autoregressive model): drop loss="),
    (["reg=gp"], "model=pixelcnn is an autoregressive model and takes none"),
    (["model.output=softmax"], "model.output='softmax': choose one of auto, bernoulli, logistic_mixture"),
    (["model.pixelcnn.first_kernel=4"], "model.pixelcnn.first_kernel=4 must be an odd whole number >= 3"),
    (["dataset=cifar10", "model.output=bernoulli"], "model.output=bernoulli models binarized grey pixels"),
    (["metrics=[elbo]"], "metrics=elbo evaluates VAEs but model=pixelcnn is an autoregressive model"),
])
def test_autoregressive_config_errors(tmp_path, args, message):
    result = run_genbench(["model=pixelcnn", *args, "hydra.run.dir=run"], tmp_path, timeout=60)
    assert result.returncode == 2 and "genbench: error:" in result.stderr and message in result.stderr, result.stderr
