"""VAEs: the bounds on a linear-Gaussian model with known posterior and likelihood (through the real VAEModule),
the decoder likelihoods, and VAE runs through the `genbench` executable on MNIST."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import genbench_env, read_json, run_genbench
from torch import nn

from genbench.losses.elbo import ELBO
from genbench.modules.vae import VAEModule
from genbench.vae.bounds import gaussian_kl, importance_sampled_log_likelihood, log_mean_exp
from genbench.vae.likelihoods import Bernoulli, DiscretizedLogistic, Gaussian

# ---------------------------------------------------------------------------------------------------------------
# A linear-Gaussian model: p(z) = N(0, I_2), p(x|z) = N(Wz + b, s^2 I_3), W with orthogonal columns, so that
# W^T W = diag(4, 1) and everything is diagonal and derivable by hand:
#   p(x) = N(b, W W^T + s^2 I) = N(b, diag(4.25, 1.25, 0.25))
#   p(z|x) = N(S W^T (x - b) / s^2, S),  S = (I + W^T W / s^2)^-1 = diag(1/17, 1/5)
W = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
B = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
S_X = 0.5
POST_VAR = torch.tensor([1 / 17, 1 / 5], dtype=torch.float64)
X = torch.tensor([[0.5, 1.0, 0.2], [-1.5, 0.3, 0.4], [2.0, -1.0, 0.1]], dtype=torch.float64)


def exact_log_px(x: torch.Tensor) -> torch.Tensor:
    var = torch.tensor([4.25, 1.25, 0.25], dtype=torch.float64)
    return -0.5 * (math.log(2 * math.pi) * 3 + var.log().sum() + ((x - B) ** 2 / var).sum(-1))


def true_posterior(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (x - B) @ W * POST_VAR / S_X**2, POST_VAR.expand(len(x), 2)


def linear_gaussian_vae(mean_shift: float = 0.0, logvar_shift: float = 0.0) -> VAEModule:
    """The model above as a VAEModule: a linear encoder giving the true posterior (shifted when asked), a linear
    decoder, the Gaussian likelihood with fixed sigma on continuous data (no 8-bit correction)."""
    encoder, decoder = nn.Linear(3, 4).double(), nn.Linear(2, 3).double()
    with torch.no_grad():
        gain = W.T * POST_VAR[:, None] / S_X**2  # (2, 3): mu = gain (x - b)
        encoder.weight.zero_()
        encoder.weight[:2] = gain
        encoder.bias[:2] = -gain @ B + mean_shift
        encoder.bias[2:] = POST_VAR.log() + logvar_shift
        decoder.weight.copy_(W)
        decoder.bias.copy_(B)
    likelihood = Gaussian(channels=3, sigma=S_X, levels=None).double()
    return VAEModule(encoder, decoder, likelihood, ELBO(), z_dim=2, k=1, opt={"name": "adam", "lr": 1e-3,
                     "betas": [0.9, 0.999]}, max_steps=1, log_every=1)


def diag_gauss_kl(mu_q, var_q, mu_p, var_p) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) of diagonal Gaussians, summed over the last dimension."""
    return 0.5 * (var_q / var_p + (mu_p - mu_q) ** 2 / var_p - 1 + (var_p / var_q).log()).sum(-1)


def rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_rate_is_the_closed_form_gaussian_kl():
    # by hand: KL(N(1, 1) || N(0, 1)) = 1/2; KL(N(0, e) || N(0, 1)) = (e - 2) / 2
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert torch.allclose(gaussian_kl(mu, logvar), torch.tensor([[0.5, (math.e - 2) / 2]]))
    vae = linear_gaussian_vae(mean_shift=0.3, logvar_shift=0.5)
    terms = vae.terms(X, 200_000, rng())
    mu_q, logvar_q = vae.posterior(X)
    expected = 0.5 * (mu_q**2 + logvar_q.exp() - 1 - logvar_q).sum(-1)
    assert torch.allclose(terms.rate, expected, atol=1e-12)
    monte_carlo = (terms.log_qz - terms.log_pz).mean(0)  # E_q[log q - log p], the same KL by sampling
    assert torch.allclose(monte_carlo, expected, atol=0.02)


def test_elbo_equals_log_likelihood_at_the_true_posterior():
    vae = linear_gaussian_vae()
    assert torch.allclose(vae.posterior(X)[0], true_posterior(X)[0], atol=1e-12)
    terms = vae.terms(X, 100_000, rng())
    # with q = p(z|x) every importance weight is p(x): log w_i = log p(x) for every sample
    assert torch.allclose(terms.log_weights, exact_log_px(X).expand_as(terms.log_weights), atol=1e-9)
    assert torch.allclose(terms.iwae(), exact_log_px(X), atol=1e-9)
    elbo = -(terms.distortion + terms.rate)  # the estimate training uses: sampled D, closed-form R
    std_err = terms.log_px.std(0) / math.sqrt(terms.log_px.shape[0])
    assert ((elbo - exact_log_px(X)).abs() < 5 * std_err).all(), (elbo, exact_log_px(X), std_err)


def test_elbo_is_below_log_likelihood_by_the_posterior_kl_otherwise():
    vae = linear_gaussian_vae(mean_shift=0.3, logvar_shift=0.5)
    terms = vae.terms(X, 200_000, rng())
    elbo = -(terms.distortion + terms.rate)
    mu_q, logvar_q = vae.posterior(X)
    mu_p, var_p = true_posterior(X)
    gap = diag_gauss_kl(mu_q, logvar_q.exp(), mu_p, var_p)  # log p(x) - ELBO = KL(q(z|x) || p(z|x))
    assert (gap > 0.1).all()
    std_err = terms.log_px.std(0) / math.sqrt(terms.log_px.shape[0])
    assert ((elbo - (exact_log_px(X) - gap)).abs() < 5 * std_err).all()
    assert (elbo < exact_log_px(X) - 0.05).all()


def test_iwae_bound_increases_with_k_and_reaches_the_log_likelihood():
    vae = linear_gaussian_vae(mean_shift=0.15, logvar_shift=0.5)
    repeats = 2000
    bounds = []
    for k in (1, 4, 16, 64):
        log_w = vae.terms(X, k * repeats, rng(k)).log_weights.view(repeats, k, len(X))
        bounds.append(log_mean_exp(log_w, 1).mean(0))  # E[log mean of k weights], averaged over the repeats
    exact = exact_log_px(X)
    for smaller, larger in zip(bounds[:-1], bounds[1:], strict=True):
        assert (smaller < larger).all(), bounds
    assert (bounds[-1] < exact).all()
    assert (exact - bounds[0] > 10 * (exact - bounds[-1])).all()  # the gap shrinks roughly as 1/k
    estimate = importance_sampled_log_likelihood(vae, X, 5000, rows=2000, generator=rng())  # the test NLL's k
    w = (vae.terms(X, 100_000, rng(1)).log_weights - exact).exp()  # p(x, z) / (q(z|x) p(x)), mean 1
    std_err = w.std(0) / math.sqrt(5000)  # of the mean of 5000 weights, i.e. of log p(x) to first order
    assert ((estimate - exact).abs() < 4 * std_err).all() and (4 * std_err < 0.05).all(), (estimate, exact, std_err)
    assert ((exact - estimate).abs() < (exact - bounds[0]) / 8).all()


def test_importance_sampling_in_chunks_is_exact_at_the_true_posterior():
    """Chunked over samples and images (k not a multiple of the chunk): the log-mean-exp is still exact."""
    vae = linear_gaussian_vae()
    for k, rows in ((1000, 300), (7, 7), (5000, 100_000), (3, 1)):
        estimate = importance_sampled_log_likelihood(vae, X, k, rows=rows, generator=rng())
        assert torch.allclose(estimate, exact_log_px(X), atol=1e-9), (k, rows)


def test_the_nll_loop_releases_freed_heap_memory_every_few_images(monkeypatch):
    """Without it glibc's heap fragments under the repeated ~30 MB passes (an OOM kill at 24 GB on the 10,000
    test images, genbench/vae/memory.py); here: one release per TRIM_EVERY image batches, and the call itself works."""
    from genbench.vae import bounds
    from genbench.vae.memory import release_freed_memory

    release_freed_memory()  # glibc's malloc_trim here; a no-op where the C library has none
    calls = []
    monkeypatch.setattr(bounds, "release_freed_memory", lambda: calls.append(1))
    vae = linear_gaussian_vae()
    images = X.repeat(20, 1)  # 20 x len(X) images, one per forward pass with rows = k
    importance_sampled_log_likelihood(vae, images, 10, rows=10, generator=rng())
    assert len(calls) == len(images) // bounds.TRIM_EVERY > 0


# ---------------------------------------------------------------------------------------------------------------
def test_discretized_logistic_is_a_distribution_over_the_256_levels():
    levels = torch.arange(256, dtype=torch.uint8).view(256, 1, 1, 1)
    target = DiscretizedLogistic().prepare(levels)
    torch.manual_seed(0)
    for loc, log_scale in ((0.0, -3.0), (0.7, -5.0), (-0.99, -1.0), (0.3, 1.0), (0.1234, -7.0)):
        params = torch.tensor([loc, log_scale]).view(1, 2, 1, 1).expand(256, 2, 1, 1)
        log_p = DiscretizedLogistic().log_prob(params, target)
        assert abs(float(torch.logsumexp(log_p, 0))) < 1e-4, (loc, log_scale)


def test_bernoulli_and_gaussian_log_probabilities():
    torch.manual_seed(0)
    logits, x = torch.randn(5, 1, 4, 4), torch.randint(0, 2, (5, 1, 4, 4)).float()
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum((1, 2, 3))
    assert torch.allclose(Bernoulli().log_prob(logits, x), expected, atol=1e-5)
    mean, y = torch.rand(5, 3, 2, 2), torch.rand(5, 3, 2, 2)
    gauss = Gaussian(channels=3, sigma=0.2)
    expected = torch.distributions.Normal(mean, 0.2).log_prob(y).sum((1, 2, 3)) - 12 * math.log(256)
    assert torch.allclose(gauss.log_prob(mean, y), expected, atol=1e-4)


def test_binarization_dynamic_is_seeded_and_static_is_fixed(mnist_root):
    from genbench.data.idx import MNIST

    grey = MNIST(root=str(mnist_root / "mnist")).load("test")[:500]
    a, b = (Bernoulli().prepare(grey, rng(3)) for _ in range(2))
    assert torch.equal(a, b) and set(a.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(a, Bernoulli().prepare(grey, rng(4)))
    assert abs(float(a.mean() - grey.float().mean() / 255)) < 0.005  # E[x] = pixel / 255
    static = MNIST(root=str(mnist_root / "mnist"), binarize="static")
    first, second = static.load("test"), static.load("test")
    assert torch.equal(first, second) and set(first.unique().tolist()) == {0, 255}
    assert torch.equal(Bernoulli().prepare(first[:500], rng(5)), first[:500].float() / 255)  # identity on 0/255


# ---------------------------------------------------------------------------------------------------------------
SHORT = ["logger=csv", "hardware.threads=1", "train.log_every=50", "metrics.elbo.n=1000"]


def test_iwae_run_on_mnist_lowers_neg_elbo_resumes_and_evaluates(tmp_path, mnist_root):
    """IWAE (k = 5) through genbench: the bounds fall, IWAE's is the tighter, prior samples go through the image
    metrics (gs), the pictures are written, resume continues the run, genbench-eval estimates the NLL."""
    env = genbench_env(GENBENCH_DATA=str(mnist_root))
    args = ["model=iwae", "model.k=5", "dataset=mnist", "hydra.run.dir=run", "train.max_steps=200",
            "train.sample_every=100",
            "train.checkpoint_every=100", "eval.every=100", "metrics=[elbo,nll,gs]", "metrics.nll.k=50",
            "metrics.nll.n=1000", "eval.n=500", "metrics.gs.n=10", *SHORT]
    result = run_genbench(args, tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    metrics = read_json(run / "metrics.json")
    first, last = metrics["history"][0], metrics["history"][-1]
    assert [h["step"] for h in metrics["history"]] == [100, 200]
    assert last["elbo/neg_elbo"] < first["elbo/neg_elbo"] - 5, (first, last)
    assert last["elbo/neg_elbo"] == pytest.approx(last["elbo/rate"] + last["elbo/distortion"])
    assert last["elbo/iwae_k"] == 5 and last["elbo/neg_iwae"] < last["elbo/neg_elbo"] - 0.5, last
    assert last["nll/value"] < last["elbo/neg_iwae"]  # the k = 50 bound is tighter still, on the same 1000 images
    assert last["nll/k"] == 50 and last["elbo/active_units"] > 0 and "gs/score" in last  # prior samples -> gs
    assert metrics["best"]["metric"] == "elbo/neg_elbo"
    for name in ("samples/step_200.png", "samples/reconstructions_step_200.png", "samples/traversals_step_200.png",
                 "metrics/kl_per_dim.csv", "metrics/kl_per_dim_step_200.png", "checkpoints/best.ckpt"):
        assert (run / name).is_file(), name
    assert len((run / "metrics" / "kl_per_dim.csv").read_text().splitlines()) == 3  # header + 2 evaluations
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["genbench"]["g_step"] == 200 and ckpt["genbench"]["data_rng"] is not None

    result = run_genbench(["resume=run", "train.max_steps=300"], tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    record, metrics = read_json(run / "run.json"), read_json(run / "metrics.json")
    assert record["status"] == "completed" and record["generator_steps"] == 300 and record["attempts"] == 2
    assert [h["step"] for h in metrics["history"]] == [100, 200, 300]
    assert metrics["final"]["elbo/neg_elbo"] < last["elbo/neg_elbo"]

    out = run_genbench(["run", "metrics=[nll]", "metrics.nll.k=20", "metrics.nll.n=200"], tmp_path,
                       exe="genbench-eval", env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    entry = read_json(run / "eval.json")[-1]
    assert entry["generator_step"] == 300 and 50 < entry["metrics"]["nll/value"] < 400


def test_beta_sweep_rate_distortion_directions_and_plot(tmp_path, mnist_root):
    """Same budget, beta = 0, 1, 50: beta = 0 has the highest rate and lowest distortion; beta = 50 collapses."""
    result = run_genbench(["-m", "model=beta_vae", "model.beta=0,1,50", "dataset=mnist", "hydra.sweep.dir=sweep",
                           "train.max_steps=300", "eval.every=300", "train.sample_every=300", *SHORT],
                          tmp_path, env=genbench_env(GENBENCH_DATA=str(mnist_root)), timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    final = {beta: read_json(tmp_path / "sweep" / str(job) / "metrics.json")["final"]
             for job, beta in enumerate((0, 1, 50))}
    assert final[0]["elbo/rate"] > final[1]["elbo/rate"] + 5 > final[50]["elbo/rate"] + 5, final
    assert final[0]["elbo/distortion"] < final[1]["elbo/distortion"] < final[50]["elbo/distortion"], final
    assert final[50]["elbo/rate"] < 1.0 and final[50]["elbo/active_units"] <= 2  # posterior collapse
    table = run_genbench(["sweep"], tmp_path, exe="genbench-table")
    assert table.returncode == 0, table.stderr
    assert sum(line.startswith("| model.beta=") for line in table.stdout.splitlines()) == 3
    assert (tmp_path / "sweep" / "rate_distortion.png").is_file() and "rate-distortion" in table.stdout


@pytest.mark.parametrize("args, message", [
    (["model=vae", "reg=gp"], "reg=gp: GAN regularizers"),
    (["model=gan", "loss=elbo"], "is a VAE objective but model=gan is a GAN: choose loss="),
    (["model=vae", "loss=ns"], "choose loss=elbo|iwae"),
    (["model=gan", "metrics=[nll]"], "metrics=nll evaluates VAEs"),
    (["model=iwae", "model.beta=4"], "loss=iwae has no beta"),
    (["model=vae", "dataset=dirac"], "dataset=dirac is the Dirac-GAN's single point"),
])
def test_family_mismatches_are_clear_errors(tmp_path, args, message):
    result = run_genbench([*args, "hydra.run.dir=run"], tmp_path, timeout=60)
    assert result.returncode == 2 and "genbench: error:" in result.stderr and message in result.stderr, result.stderr
