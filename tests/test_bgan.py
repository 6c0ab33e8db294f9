"""Mixed batches and the symmetric discriminator (model=bgan, model=mbgan; Lucas et al. 2018)."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import genbench_env, read_json, run_genbench
from omegaconf import OmegaConf

from genbench.losses.minimax import MinimaxLoss
from genbench.losses.ns import NonSaturatingLoss
from genbench.modules.bgan import (
    BatchStats,
    MixedBatchGAN,
    make_symmetric,
    mixed_batch,
    predicted_proportion,
    proportion_loss,
)
from genbench.nets import build_nets

NETS = {"mlp": ((2,), "vector"), "dcgan": ((1, 28, 28), "image"), "resnet32": ((3, 32, 32), "image")}


def _symmetric_d(family: str, width: int = 8):
    shape, _ = NETS[family]
    nets = OmegaConf.create({"vector": "mlp", "image": family, "width": width, "g_norm": "batch", "d_norm": "batch"})
    _, d = build_nets(nets, shape, 4)
    return d, shape, make_symmetric(d, shape)


@pytest.mark.parametrize("family", sorted(NETS))
def test_discriminator_is_permutation_invariant_and_uses_the_batch(family, seeded_one_thread):
    d, shape, stages = _symmetric_d(family)
    assert stages == sum(isinstance(m, BatchStats) for m in d.modules()) >= 2  # statistics at every stage
    x = torch.randn(12, *shape)
    perm = torch.randperm(12)
    logits = d(x)
    assert torch.allclose(d(x[perm]), logits[perm], atol=1e-5)  # equivariant per element...
    for average in ("output", "loss"):                          # ...so the batch's prediction and loss are invariant
        p = torch.tensor(0.3)
        assert torch.allclose(proportion_loss(d(x[perm]), p, average), proportion_loss(logits, p, average), atol=1e-6)
        assert torch.allclose(predicted_proportion(d(x[perm]), average), predicted_proportion(logits, average),
                              atol=1e-6)
    other = x.clone()
    other[0] = torch.randn(*shape)  # change one element: every other element's logit moves (batch statistics)
    assert not torch.allclose(d(other)[1:], logits[1:], atol=1e-6)


def test_proportion_loss_on_a_hand_case():
    """Logits (0, ln 3), p = 1/4. BGAN: D(B) = sigmoid(ln 3 / 2) = sqrt3 / (1 + sqrt3), so
    l = -1/4 log D - 3/4 log(1 - D) = ln(1 + sqrt3) - ln(3) / 8. M-BGAN: the mean of l(1/2, 1/4) = ln 2 and
    l(3/4, 1/4) = -1/4 ln(3/4) + 3/4 ln 4."""
    logits, p = torch.tensor([0.0, math.log(3.0)], dtype=torch.float64), torch.tensor(0.25, dtype=torch.float64)
    bgan = math.log(1 + math.sqrt(3)) - math.log(3) / 8
    mbgan = (math.log(2) + (-0.25 * math.log(0.75) + 0.75 * math.log(4))) / 2
    assert proportion_loss(logits, p, "output").item() == pytest.approx(bgan, abs=1e-12)
    assert proportion_loss(logits, p, "loss").item() == pytest.approx(mbgan, abs=1e-12)
    assert predicted_proportion(logits, "output").item() == pytest.approx(math.sqrt(3) / (1 + math.sqrt(3)))
    assert predicted_proportion(logits, "loss").item() == pytest.approx(0.625)
    # The two differ only in the order of averaging and loss: equal on equal logits, M-BGAN's larger otherwise
    # (the cross-entropy is strictly convex in the logit: Jensen).
    same = torch.full((5,), 0.7, dtype=torch.float64)
    assert proportion_loss(same, p, "output").item() == pytest.approx(proportion_loss(same, p, "loss").item())
    assert mbgan > bgan


def test_mixed_batch_takes_each_position_from_real_with_probability_p():
    torch.manual_seed(0)
    real, fake = torch.ones(400, 3), torch.zeros(400, 3)
    ps, gaps = [], []
    for _ in range(200):
        batch, p = mixed_batch(real, fake)
        rows = batch[:, 0]
        assert torch.equal(batch, rows[:, None].expand(-1, 3)) and set(rows.tolist()) <= {0.0, 1.0}
        ps.append(p.item())
        gaps.append(abs(rows.mean().item() - p.item()))
    assert 0.4 < sum(ps) / len(ps) < 0.6 and min(ps) < 0.05 and max(ps) > 0.95  # p ~ U[0, 1]
    assert max(gaps) < 4 * 0.5 / math.sqrt(400)  # the fraction of real rows is Binomial(400, p) / 400


def _module(average: str, loss) -> MixedBatchGAN:
    torch.manual_seed(0)
    nets = OmegaConf.create({"vector": "mlp", "image": "dcgan", "width": 16})
    g, d = build_nets(nets, (2,), 4)
    make_symmetric(d, (2,))
    opt = {"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]}
    return MixedBatchGAN(g, d, loss, [], z_dim=4, n_critic=1, opt_g=opt, opt_d=opt, max_steps=1, log_every=1,
                         average=average)


@pytest.mark.parametrize("average", ["output", "loss"])
def test_objectives_are_the_proportion_loss_on_a_mixed_batch(average, seeded_one_thread):
    """D's loss is l(., p) on D's logits of the mixed batch; NS-G's is l(., 1 - p); minimax-G's is -l(., p).
    BGAN and M-BGAN modules with the same weights and draws see the same logits: only the averaging differs."""
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    for loss, g_target, sign in ((NonSaturatingLoss(), lambda p: 1 - p, 1), (MinimaxLoss(), lambda p: p, -1)):
        module = _module(average, loss)
        torch.manual_seed(1)
        batch, p = mixed_batch(real, fake)
        logits = module.discriminator(batch)
        torch.manual_seed(1)
        assert torch.allclose(module.d_loss(real, fake), proportion_loss(logits, p, average))
        torch.manual_seed(1)
        assert torch.allclose(module.g_objective(fake, real), sign * proportion_loss(logits, g_target(p), average))
    other = _module("loss" if average == "output" else "output", NonSaturatingLoss())
    other.load_state_dict(module.state_dict())
    torch.manual_seed(1)
    assert torch.allclose(other.discriminator(mixed_batch(real, fake)[0]), logits)


def test_losses_without_a_mixed_batch_form_are_refused():
    from genbench.errors import ConfigError
    from genbench.losses.hinge import HingeLoss

    with pytest.raises(ConfigError, match="use loss=ns or loss=minimax"):
        _module("output", HingeLoss())
    with pytest.raises(ConfigError, match="model.mixed.average='mean'"):
        _module("mean", NonSaturatingLoss())


def test_regularizers_that_change_d_compose(seeded_one_thread):
    """sn normalizes Gamma too; minibatch discrimination goes on top of the symmetric body; D stays equivariant."""
    from genbench.regs.minibatch_disc import MinibatchDiscriminationReg
    from genbench.regs.sn import SpectralNorm

    d, shape, _ = _symmetric_d("dcgan")
    d = MinibatchDiscriminationReg(num_kernels=4, kernel_dim=3).wrap_discriminator(SpectralNorm().wrap_discriminator(d))
    assert all(hasattr(m.gamma, "parametrizations") for m in d.modules() if isinstance(m, BatchStats))
    x, perm = torch.randn(10, *shape), torch.randperm(10)
    assert torch.allclose(d(x[perm]), d(x)[perm], atol=1e-5)


FEW = ["train.log_every=2", "train.sample_every=4", "train.checkpoint_every=4", "eval.every=4", "eval.n=256",
       "logger=csv", "dataset.batch_size=32", "hardware.threads=1"]


def _state(run):
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


@pytest.mark.parametrize("model", ["bgan", "mbgan"])
def test_runs_on_ring8_and_resumes(tmp_path, model):
    run = tmp_path / "run"
    first = run_genbench(["hydra.run.dir=run", f"model={model}", "train.max_steps=4", *FEW], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    weights = _state(run)["state_dict"]
    assert any(".gamma." in k for k in weights)  # the symmetric discriminator's batch statistics
    second = run_genbench([f"resume={run}", "train.max_steps=8"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    record = read_json(run / "run.json")
    assert record["status"] == "completed" and record["generator_steps"] == 8 and record["attempts"] == 2
    resumed = _state(run)
    assert resumed["genbench"]["g_step"] == 8 and resumed["state_dict"].keys() == weights.keys()
    assert any(not torch.equal(resumed["state_dict"][k], weights[k]) for k in weights), "resumed run did not train"
    assert "mixed/p_error" in (run / "csv" / "metrics.csv").read_text()
    assert "modes/covered" in read_json(run / "metrics.json")["final"]


@pytest.mark.parametrize("model", ["bgan", "mbgan"])
def test_runs_on_mnist(tmp_path, model, mnist_root):
    result = run_genbench(["hydra.run.dir=run", f"model={model}", "dataset=mnist", "train.max_steps=4", *FEW,
                           "metrics=none"], tmp_path, env=genbench_env(GENBENCH_DATA=str(mnist_root)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_json(tmp_path / "run" / "run.json")["status"] == "completed"
    assert (tmp_path / "run" / "samples" / "step_4.png").is_file()
