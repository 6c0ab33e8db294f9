"""InfoGAN (model=infogan): the mutual-information bound on hand cases, the codes' distributions, the traversal
grids, where Q's parameters train, and runs through the `genbench` executable on ring8 and MNIST with resume."""

from __future__ import annotations

import math
import re

import pytest
import torch
from conftest import genbench_env, read_json, run_genbench

from genbench.metrics.infogan import matched_accuracy
from genbench.modules.infogan import InfoGANModule, LatentCodes, gaussian_nll
from genbench.nets import mlp
from genbench.plots import HEADER_PX

pytestmark = pytest.mark.usefixtures("seeded_one_thread")

LOG2PI = math.log(2 * math.pi)


def one_hot(index: list[int], k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(index), k).float()


# ------------------------------------------------------------------------------------ the bound L_I


def test_categorical_bound_is_log_k_when_q_recovers_the_code_and_lower_otherwise():
    codes = LatentCodes([10], 0)
    c = one_hot([0, 3, 7, 9], 10)
    ce_exact, _ = codes.cross_entropy(50.0 * c, c)                 # Q sure of the true value
    ce_blind, _ = codes.cross_entropy(torch.zeros(4, 10), c)       # Q uniform: learns nothing
    ce_wrong, _ = codes.cross_entropy(50.0 * c.roll(1, dims=1), c)  # Q sure of a wrong value
    assert codes.entropy == pytest.approx(math.log(10))
    assert codes.entropy - float(ce_exact) == pytest.approx(math.log(10), abs=1e-12)  # L_I = H(c): the maximum
    assert float(ce_blind) == pytest.approx(math.log(10), abs=1e-6)                   # L_I = 0
    assert float(ce_wrong) == pytest.approx(50.0 + math.log(1 + 9 * math.exp(-50)), abs=1e-4)
    assert float(ce_exact) < float(ce_blind) < float(ce_wrong)


def test_gaussian_nll_is_minimal_at_the_true_mean_with_sigma_fixed_at_one():
    codes = LatentCodes([], 2)
    c = torch.tensor([[0.5, -0.25], [-1.0, 0.75]])
    _, nll_true = codes.cross_entropy(c.clone(), c)
    assert float(nll_true) == pytest.approx(2 * 0.5 * LOG2PI)  # two codes, each 0.5 log(2 pi) at the mean
    for shift in (0.1, -0.3, 1.0):
        _, nll = codes.cross_entropy(c + shift, c)
        assert float(nll) == pytest.approx(2 * 0.5 * LOG2PI + 2 * 0.5 * shift ** 2)  # + 0.5 (c - mu)^2 per code
    mean = c.clone().requires_grad_(True)
    codes.cross_entropy(mean, c)[1].backward()
    assert torch.equal(mean.grad, torch.zeros_like(c))  # a stationary point, and the minimum (convex)


def test_learned_sigma_is_optimal_at_the_residual_size():
    """d/d log s [log s + r^2 / (2 s^2)] = 1 - r^2 / s^2: for residual r the best sigma is |r|."""
    r = torch.tensor(0.3)
    log_s = torch.linspace(-4, 1, 2001)
    best = log_s[gaussian_nll(r, torch.tensor(0.0), log_s).argmin()]
    assert float(best.exp()) == pytest.approx(0.3, rel=2e-3)
    codes = LatentCodes([], 1, learn_std=True)
    assert codes.q_width == 2
    c = torch.tensor([[0.3]])
    _, nll = codes.cross_entropy(torch.tensor([[0.0, math.log(0.3)]]), c)
    assert float(nll) == pytest.approx(math.log(0.3) + 0.5 + 0.5 * LOG2PI)


def test_mixed_codes_add_up_and_the_entropy_counts_uniform_codes():
    codes = LatentCodes([10, 4], 2)
    assert codes.width == 16 and codes.q_width == 16 and codes.names == ["c1", "c2", "c3", "c4"]
    assert codes.entropy == pytest.approx(math.log(10) + math.log(4) + 2 * math.log(2))
    c = torch.cat([one_hot([2, 5], 10), one_hot([1, 3], 4), torch.tensor([[0.5, 0.0], [-0.5, 1.0]])], 1)
    q = torch.cat([torch.zeros(2, 10), torch.zeros(2, 4), torch.zeros(2, 2)], 1)
    ce, nll = codes.cross_entropy(q, c)
    assert float(ce) == pytest.approx(math.log(10) + math.log(4))
    assert float(nll) == pytest.approx(LOG2PI + 0.5 * (0.25 + 0.25 + 1.0) / 2)  # mean over the batch of 2
    assert float(codes.accuracy(torch.cat([one_hot([2, 0], 10), one_hot([1, 3], 4), torch.zeros(2, 2)], 1), c)) \
        == pytest.approx((0.5 + 1.0) / 2)


# ------------------------------------------------------------------------------------ codes and module


def test_code_sampling_distributions():
    codes = LatentCodes([10, 3], 2)
    c = codes.sample(30000, torch.Generator().manual_seed(0))
    assert c.shape == (30000, 15)
    blocks, cont = codes.split(c)
    for block, k in zip(blocks, (10, 3), strict=True):
        assert torch.equal(block.sum(1), torch.ones(30000)) and set(block.unique().tolist()) == {0.0, 1.0}
        assert torch.allclose(block.mean(0), torch.full((k,), 1 / k), atol=0.015)
    assert cont.min() >= -1 and cont.max() <= 1
    assert torch.allclose(cont.mean(0), torch.zeros(2), atol=0.02)
    assert torch.allclose(cont.var(0), torch.full((2,), 1 / 3), atol=0.02)  # Uniform(-1, 1)


def small_module(categorical=(4,), continuous=1) -> InfoGANModule:
    from genbench.losses.ns import NonSaturatingLoss

    codes = LatentCodes(list(categorical), continuous)
    noise_dim = 3
    return InfoGANModule(mlp.build_generator((2,), noise_dim + codes.width, 16), mlp.build_discriminator((2,), 16),
                         NonSaturatingLoss(), [], noise_dim=noise_dim, codes=codes, n_critic=1,
                         opt_g={"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]},
                         opt_d={"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}, max_steps=10, log_every=5,
                         traversal_range=2.0, traversal_steps=5)


def test_noise_is_gaussian_noise_then_codes():
    module = small_module()
    z = module.noise(20000, torch.Generator().manual_seed(1))
    assert z.shape == (20000, 3 + 4 + 1) and module.z_dim == 8
    assert abs(float(z[:, :3].mean())) < 0.02 and abs(float(z[:, :3].std()) - 1) < 0.02
    assert torch.equal(module.code_part(z)[:, :4].sum(1), torch.ones(20000))
    assert torch.equal(z, module.noise(20000, torch.Generator().manual_seed(1)))  # seeded: reproducible


def test_traversals_sweep_one_code_along_the_columns_and_keep_the_rest_per_row():
    module = small_module()
    cat, cont = module.traversals(3, torch.Generator().manual_seed(0))
    assert (cat.name, cat.values, cat.z.shape) == ("c1", [0, 1, 2, 3], (12, 8))
    grid = cat.z.view(3, 4, 8)
    assert torch.equal(grid[:, :, 3:7], one_hot([0, 1, 2, 3], 4).expand(3, 4, 4))  # column j: category j
    others = torch.cat([grid[:, :, :3], grid[:, :, 7:]], 2)
    assert torch.equal(others, others[:, :1].expand_as(others))  # the rest fixed along each row
    assert not torch.equal(others[0], others[1])                 # and different between rows
    assert cont.name == "c2" and cont.values == pytest.approx([-2.0, -1.0, 0.0, 1.0, 2.0])
    grid = cont.z.view(3, 5, 8)
    assert torch.equal(grid[:, :, 7], torch.tensor(cont.values).expand(3, 5))
    assert torch.equal(grid[:, :, :7], grid[:, :1, :7].expand(3, 5, 7))


def test_q_trains_with_d_and_the_mi_term_reaches_g_and_q():
    module = small_module()
    opt_d, opt_g = module.configure_optimizers()
    q_params = {id(p) for p in module.discriminator.q_head.parameters()}
    assert q_params <= {id(p) for group in opt_d.param_groups for p in group["params"]}
    assert not q_params & {id(p) for group in opt_g.param_groups for p in group["params"]}
    real, z = torch.randn(16, 2), module.noise(16)
    fake = module.generator(z)
    loss, total, penalties = module.d_objective(real, fake.detach(), z)
    assert float((total - loss).detach()) == pytest.approx(float(penalties["info_d"].detach()))  # in D and Q
    q_grads = torch.autograd.grad(penalties["info_d"], list(module.discriminator.q_head.parameters()))
    assert all(g.abs().sum() > 0 for g in q_grads)
    module.g_objective(fake, z)
    info_g = module.g_penalties(z, fake)["info_g"]
    g_grads = torch.autograd.grad(info_g, list(module.generator.parameters()))
    assert all(g.abs().sum() > 0 for g in g_grads)                 # G is pushed to make its codes readable
    assert "info_g" in module.g_penalty_names


def test_matched_accuracy_finds_the_best_one_to_one_labelling():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert matched_accuracy(torch.tensor([2, 2, 0, 0, 1, 1]), labels, 3) == 1.0
    assert matched_accuracy(torch.tensor([2, 2, 0, 1, 1, 1]), labels, 3) == pytest.approx(5 / 6)
    assert matched_accuracy(torch.tensor([0, 0, 0, 0, 0, 0]), labels, 3) == pytest.approx(2 / 6)  # one label only


# ------------------------------------------------------------------------------------ through the CLI

QUICK = ["model=infogan", "logger=none", "hydra.run.dir=run", "train.log_every=3", "train.sample_every=3",
         "train.checkpoint_every=3", "eval.every=3", "eval.n=200", "hardware.threads=1"]


def run_and_resume(tmp_path, extra: list[str], until: int = 6, env=None) -> dict:
    """3 generator steps, then resume=<run> to `until` (evaluating, drawing and saving at `until` too): checks the
    resume, the traversal pictures and the checkpoint, and returns metrics.json."""
    first = run_genbench([*QUICK, "train.max_steps=3", *extra], tmp_path, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "run"
    every = [f"{key}={until}" for key in ("train.sample_every", "train.checkpoint_every", "eval.every")]
    second = run_genbench([f"resume={run}", f"train.max_steps={until}", *every], tmp_path, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    record = read_json(run / "run.json")
    assert record["status"] == "completed" and record["generator_steps"] == until and record["attempts"] == 2
    metrics = read_json(run / "metrics.json")
    assert [h["step"] for h in metrics["history"]] == [3, until]
    for name in ("c1", "c2", "c3"):
        for step in (3, until):
            assert (run / "samples" / f"traverse_{name}_step_{step}.png").is_file(), (name, step)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["genbench"]["g_step"] == until and any(".q_head." in k for k in ckpt["state_dict"])
    for row in metrics["history"]:
        assert 0.0 <= row["infogan/q_accuracy"] <= 1.0 and math.isfinite(row["infogan/mi"])
        assert math.isfinite(row["reg/info_d"]) and math.isfinite(row["reg/info_g"])
    return metrics


def test_cli_ring8_run_and_resume(tmp_path):
    metrics = run_and_resume(tmp_path, [])
    assert metrics["best"]["metric"] == "modes/hq_fraction"  # the diagnostic is never the automatic monitor


@pytest.mark.slow
def test_cli_mnist_run_resume_and_q_accuracy_rises_above_chance(tmp_path, mnist_root):
    """MNIST, batch 64: after 3 steps Q reads the 10-way code at about chance (0.1); resumed to 40 steps it reads
    it almost always (measured 0.99; the bound L_I nears its maximum for this code, log 10)."""
    from PIL import Image

    metrics = run_and_resume(tmp_path, ["dataset=mnist", "dataset.batch_size=64", "metrics=none"], until=40,
                             env=genbench_env(GENBENCH_DATA=str(mnist_root)))
    start, end = metrics["history"]
    assert start["infogan/q_accuracy"] < 0.25 and end["infogan/q_accuracy"] > 0.5, (start, end)
    assert end["infogan/mi"] > start["infogan/mi"] + 1.0
    assert 0.0 <= end["infogan/real_accuracy"] <= 1.0
    samples = tmp_path / "run" / "samples"
    band = HEADER_PX  # the code's name and each column's value above the grid
    assert Image.open(samples / "traverse_c1_step_40.png").size == (10 * 30 + 2, 10 * 30 + 2 + band)  # 10 x 10 values
    assert Image.open(samples / "traverse_c2_step_40.png").size == (9 * 30 + 2, 10 * 30 + 2 + band)   # 9 values of c2


def test_cli_bad_codes_fail_with_one_line(tmp_path):
    bad = run_genbench(["model=infogan", "model.codes.categorical=[1]", "debug=fast", "logger=none",
                        "hydra.run.dir=a"], tmp_path)
    assert bad.returncode == 2 and "genbench: error: model.codes.categorical=[1]" in bad.stderr, bad.stderr[-2000:]


# ------------------------------------------------------------------------------------ the recipe


@pytest.fixture(scope="module")
def compose_cfg():
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="genbench.conf", version_base="1.3"):
        yield lambda *overrides: compose(config_name="config", overrides=list(overrides))


def test_recipe_is_the_authors_mnist_setup_and_composes_with_losses_and_regs(compose_cfg):
    from genbench.modules import build
    from genbench.runs.config_checks import check_config

    cfg = compose_cfg("model=infogan")
    check_config(cfg)
    assert cfg.model.module == "infogan" and cfg.model.z_dim == 62 and list(cfg.model.codes.categorical) == [10]
    assert cfg.model.codes.continuous == 2 and not cfg.model.codes.learn_std
    assert cfg.loss._target_.endswith("NonSaturatingLoss") and not cfg.get("reg")
    assert (cfg.model.opt_g.lr, cfg.model.opt_d.lr) == (1e-3, 2e-4) and "infogan" in cfg.metrics
    module = build(compose_cfg("model=infogan", "loss=hinge", "reg=[gp0,sn]"), (2,))
    assert isinstance(module, InfoGANModule) and [r.name for r in module.regs] == ["gp0", "sn"]
    assert module.z_dim == 62 + 12 and module.generator.net[0].in_features == 74


def test_infogan_metric_needs_model_infogan(compose_cfg):
    from genbench.errors import ConfigError
    from genbench.runs.config_checks import check_config

    with pytest.raises(ConfigError, match="use it with model=infogan"):
        check_config(compose_cfg("model=gan", "metrics=[modes,infogan]"))


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.codes.categorical=[10,1]"], "model.codes.categorical=[10, 1] must list whole numbers >= 2"),
    (["model.codes.continuous=-1"], "model.codes.continuous=-1 must be a whole number >= 0"),
    (["model.codes.categorical=[]", "model.codes.continuous=0"], "model.codes has no code"),
    (["model.codes.lambda_continuous=-0.1"], "model.codes.lambda_continuous=-0.1 must be a number >= 0"),
    (["model.codes.q_hidden=0"], "model.codes.q_hidden=0 must be a whole number >= 1"),
])
def test_bad_codes_are_config_errors(compose_cfg, overrides, message):
    from genbench.errors import ConfigError
    from genbench.runs.config_checks import check_config

    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(compose_cfg("model=infogan", *overrides))
