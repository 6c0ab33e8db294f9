"""One comparison across model families (issue 17): the EBM's quadrature NLL against a closed form, the vector VAE
on ring8 through `genbench` with resume, experiment=families/toys with a tiny budget and experiment=families/mnist_nll
with the smoke budget printed by `genbench-table`, and the config errors of these paths."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import genbench_env, read_json, run_genbench
from torch import nn

from genbench.data.toy import Ring8
from genbench.metrics.base import EvalContext
from genbench.metrics.toy_nll import ToyNLL
from genbench.modules.ebm import EBMModule

ROWS = ["GAN (NS + GP0)", "WGAN-GP", "VAE", "GMM (K = 25)", "NCE (q = GMM-8)", "EBM", "Autoregressive (MADE)"]
DENSITY_ROWS = ROWS[2:]


class Data:  # what the metric reads of a datamodule
    def __init__(self, dataset):
        self.dataset, self.shape = dataset, (2,)

    def real_samples(self, n, split):
        return self.dataset.load(split)[:n]


class GaussianEnergy(nn.Module):
    """E(x) = |x - mu|^2 / (2 s^2) + offset: exp(-E) is an unnormalized N(mu, s^2 I)."""

    def __init__(self, mu, s, offset):
        super().__init__()
        self.mu, self.s, self.offset = torch.tensor(mu), s, offset

    def forward(self, x):
        return (x - self.mu).pow(2).sum(-1) / (2 * self.s**2) + self.offset


def test_ebm_toy_nll_of_a_gaussian_energy_is_the_gaussian_nll(seeded_one_thread):
    """An EBM whose energy is a Gaussian quadratic (plus an arbitrary offset) scores the Gaussian's NLL on the test
    points, and its quadrature normalizer is the closed form -log of the integral of exp(-E)."""
    mu, s, offset = (0.3, -0.2), 0.8, 5.0
    ebm = EBMModule(GaussianEnergy(mu, s, offset), None, (2,), init="data",
                    langevin={"steps": 1, "step_size": 0.01}, sample={"start": "noise", "steps": 1},
                    buffer={"reinit": 0.05, "size": 0}, data_noise=0.0, opt={"name": "adam", "lr": 1e-3},
                    max_steps=1, log_every=1)
    toy = Ring8(n=5000)
    out = ToyNLL(n=5000, grid=512, margin=4.0)(None, Data(toy), EvalContext(module=ebm))
    x = toy.load("test")[:5000].double()
    gaussian_nll = float(math.log(2 * math.pi * s**2) + ((x - torch.tensor(mu)).pow(2).sum(-1) / (2 * s**2)).mean())
    assert out["toy_nll/value"] == pytest.approx(gaussian_nll, abs=1e-3)
    assert out["toy_nll/c_quadrature"] == pytest.approx(offset - math.log(2 * math.pi * s**2), abs=1e-3)
    assert out["toy_nll/gap"] == pytest.approx(gaussian_nll - out["toy_nll/floor"], abs=1e-3)
    assert "toy_nll/c_model" not in out and "toy_nll/self_normalized" not in out  # an EBM learns no normalizer


SHORT = ["logger=csv", "hardware.threads=1", "train.log_every=50", "eval.n=500"]


def test_vector_vae_runs_on_ring8_with_its_iwae_estimate_and_resumes(tmp_path):
    args = ["model=vae", "dataset=ring8", "model.z_dim=2", "model.nets.hidden=[64,64]", "hydra.run.dir=run",
            "metrics=[elbo,toy_nll,modes]", "metrics.toy_nll.k=50", "metrics.toy_nll.n=2000", "metrics.elbo.n=2000",
            "train.max_steps=100", "eval.every=50", "train.sample_every=50", "train.checkpoint_every=50", *SHORT]
    result = run_genbench(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    metrics = read_json(run / "metrics.json")
    last = metrics["final"]
    assert [h["step"] for h in metrics["history"]] == [50, 100]
    assert last["toy_nll/k"] == 50 and math.isfinite(last["toy_nll/value"]), last
    # an upper estimate of the model's NLL, itself >= the data's entropy (cross-entropy >= entropy)
    assert last["toy_nll/gap"] > 0 and "elbo/neg_elbo" in last and "modes/hq_fraction" in last, last
    assert (run / "samples" / "step_100.png").is_file()
    result = run_genbench(["resume=run", "train.max_steps=150"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record, metrics = read_json(run / "run.json"), read_json(run / "metrics.json")
    assert record["status"] == "completed" and record["generator_steps"] == 150 and record["attempts"] == 2
    assert [h["step"] for h in metrics["history"]] == [50, 100, 150]


def test_family_table_runs_every_family_and_genbench_table_prints_every_row(tmp_path):
    result = run_genbench(["-m", "experiment=families/toys", "train.max_steps=10", "train.log_every=5",
                           "eval.every=10", "eval.n=300", "metrics.gs.n=5", "++metrics.toy_nll.n=500",
                           "hydra.sweep.dir=sweep", *SHORT[:2]],
                          tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    out = run_genbench(["sweep"], tmp_path, exe="genbench-table")
    assert out.returncode == 0, out.stderr
    lines = {tuple(c.strip() for c in line.strip("|").split("|")[:2]): [c.strip() for c in line.strip("|").split("|")]
             for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line}
    header = lines[("dataset", "model")]
    assert header[4:10] == ["NLL", "floor", "gap", "modes", "hq", "GS"]
    for dataset in ("ring8", "grid25"):
        for row in ROWS:
            cells = lines[(dataset, row)]
            assert cells[3] == "1 completed", cells
            has_nll = row in DENSITY_ROWS
            assert (cells[4] != "–") == has_nll and (cells[6] != "–") == has_nll, cells  # NLL, gap: densities only
            assert all(c != "–" for c in cells[7:10]), cells  # modes, hq, GS: every family
    assert "IWAE estimate (k = 1000)" in out.stdout and "quadrature (512^2 grid)" in out.stdout
    csv = run_genbench(["sweep", "--csv"], tmp_path, exe="genbench-table")
    assert csv.returncode == 0 and len(csv.stdout.strip().splitlines()) == 1 + 2 * len(ROWS), csv.stdout


def test_mnist_likelihood_table_prints_every_family_beside_its_published_value(tmp_path, mnist_root):
    """families/mnist_nll under budget=smoke: GMM, VAE, IWAE and PixelCNN on binarized MNIST, one table."""
    env = genbench_env(GENBENCH_DATA=str(mnist_root))
    result = run_genbench(["-m", "experiment=families/mnist_nll", "budget=smoke", "logger=csv", "hardware.threads=1"],
                          tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = run_genbench(["outputs/tables/families/mnist_nll-smoke"], tmp_path, exe="genbench-table")
    assert out.returncode == 0, out.stderr
    published = {"GMM (500 Bernoulli components) *": "137.6 (unchecked)", "VAE *": "89.78 ± 0.01",
                 "IWAE (k = 50) *": "86.82 ± 0.01", "PixelCNN *": "81.3"}
    for row, value in published.items():
        line = next(line for line in out.stdout.splitlines() if line.startswith(f"| {row} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2] == "1 completed" and cells[3] == value and cells[5] == "–", cells  # smoke: no Δ
        ours = float(cells[4].split()[0])
        assert 0 < ours < 800 and float(cells[7].split()[0]) == pytest.approx(ours / (784 * math.log(2)), rel=1e-3)
        assert cells[10] != "–" and cells[13] != "–", cells  # FID, IS of every family's samples


@pytest.mark.parametrize("args, message", [
    (["model=vae", "dataset=ring8", "model.likelihood.name=discretized_logistic"],
     "dataset=ring8 holds real vectors (a Gaussian likelihood): drop model.likelihood.name"),
    (["model=wgan_gp", "metrics=[toy_nll]"],
     "metrics=toy_nll evaluates GMMs, NCEs, EBMs, VAEs and autoregressive models but model=wgan_gp"),
    (["model=ebm", "metrics=[toy_nll]", "metrics.toy_nll.k=0"], "metrics.toy_nll.k=0"),
    (["model=ebm", "metrics=[toy_nll]", "metrics.toy_nll.margin=-1"], "metrics.toy_nll.margin=-1 must be a number"),
    (["experiment=families/toys/gan", "metrics=[toy_nll]"], "metrics=toy_nll evaluates"),
])
def test_family_config_errors(tmp_path, args, message):
    result = run_genbench([*args, "hydra.run.dir=run"], tmp_path, timeout=60)
    assert result.returncode == 2 and "genbench: error:" in result.stderr and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_nll_scores_a_bernoulli_mixture_exactly_on_binary_images(seeded_one_thread):
    """metrics=[nll] on model=gmm (binarized): the exact -log p of the held-out images, in nats and bits/dim."""
    from genbench.metrics.nll import ImportanceSampledNLL
    from genbench.modules.gmm import GMMModule

    images = (torch.rand(50, 1, 28, 28) < 0.3).to(torch.uint8) * 255  # already binary: binarization is the identity

    class Images:
        class dataset:  # noqa: N801
            is_image = True

        shape = (1, 28, 28)

        def real_samples(self, n, split):
            return images[:n]

    gmm = GMMModule((1, 28, 28), components=3, covariance="diag", min_std=1e-3, fit="em", em_decay=0.6,
                    image_data="binarize", opt={"name": "adam", "lr": 1e-2}, max_steps=1, log_every=1)
    out = ImportanceSampledNLL(n=50)(None, Images(), EvalContext(module=gmm))
    with torch.no_grad():
        expected = float(-gmm.mixture.log_prob(images.flatten(1).float() / 255).double().mean())
    assert out["nll/value"] == pytest.approx(expected, rel=1e-6) and out["nll/k"] == 0
    assert out["nll/bits_per_dim"] == pytest.approx(expected / (784 * math.log(2)), rel=1e-6)
