"""More than one process: DDP with 2 CPU ranks over gloo, the code path of GPU ranks over NCCL.

End to end through `genbench hardware=ddp hardware.accelerator=cpu hardware.devices=2`, plus the collectives
genbench adds (stop agreement, gathered evaluation features) in 2 spawned gloo processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import genbench_env, read_json, run_genbench, start_genbench, wait_for_step

pytestmark = pytest.mark.slow

DDP = ["hardware=ddp", "hardware.accelerator=cpu", "hardware.devices=2", "hardware.threads=1"]
ONE = ["hardware=cpu", "hardware.threads=1"]
# ring8 with no batch norm and no penalty: a game whose full-batch gradient is the mean of the ranks' gradients
PLAIN = ["dataset=ring8", "reg=none", "model.nets.g_norm=none", "model.nets.d_norm=none", "metrics=none",
         "logger=csv", "train.log_every=10", "train.sample_every=1000", "train.checkpoint_every=10"]


def weights(run) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


STRAGGLER = "was still running"  # launch.LocalRanks.join: a rank left waiting in a collective rank 0 skipped


def ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-4000:]
    assert STRAGGLER not in result.stdout + result.stderr, (result.stdout + result.stderr)[-4000:]


def test_the_issue_command_trains_evaluates_and_resumes(tmp_path):
    """genbench hardware=ddp ... train.max_steps=200 eval.every=100, then resume=<dir> to 300 steps."""
    ok(run_genbench([*DDP, "train.max_steps=200", "eval.every=100", "logger=csv", "hydra.run.dir=run"],
                    tmp_path, timeout=400))
    run = tmp_path / "run"
    record = read_json(run / "run.json")
    assert record["status"] == "completed" and record["generator_steps"] == 200 and record["world_size"] == 2
    assert [h["step"] for h in read_json(run / "metrics.json")["history"]] == [100, 200]
    for name in ("checkpoints/last.ckpt", "checkpoints/best.ckpt", "samples/step_200.png"):
        assert (run / name).is_file(), name
    assert not list(run.rglob("*.tmp")), "a temporary file was left behind"
    ok(run_genbench([f"resume={run}", "train.max_steps=300"], tmp_path, timeout=400))
    record = read_json(run / "run.json")
    assert record["status"] == "completed" and record["generator_steps"] == 300 and record["attempts"] == 2
    assert [h["step"] for h in read_json(run / "metrics.json")["history"]] == [100, 200, 300]


SGD = ["model.opt_g.name=sgd", "model.opt_d.name=sgd", "model.opt_g.lr=0.05", "model.opt_d.lr=0.05"]


def test_batch_semantics_and_resume_on_any_number_of_ranks(tmp_path):
    """dataset.batch_size is the global batch: 2 ranks x 128 rows see the rows and noise 1 rank x 256 rows sees,
    and the averaged gradient is the full batch's, so the weights agree to float rounding. A 2-rank run stopped at
    step 20 and resumed to 40 ends on the uninterrupted 2-rank run exactly; resumed on 1 rank instead, it ends on
    it to float rounding. (Plain SGD: Adam's first steps move each weight by about lr * sign(gradient), which
    turns a rounding difference in a near-zero gradient into a difference of 2 lr.)"""
    args = [*PLAIN, *SGD]
    ok(run_genbench([*ONE, *args, "train.max_steps=40", "hydra.run.dir=one"], tmp_path))
    ok(run_genbench([*DDP, *args, "train.max_steps=40", "hydra.run.dir=two"], tmp_path, timeout=400))
    ok(run_genbench([*DDP, *args, "train.max_steps=20", "hydra.run.dir=stopped"], tmp_path, timeout=400))
    shutil.copytree(tmp_path / "stopped", tmp_path / "stopped_one")
    ok(run_genbench(["resume=" + str(tmp_path / "stopped"), "train.max_steps=40"], tmp_path, timeout=400))
    ok(run_genbench(["resume=" + str(tmp_path / "stopped_one"), "hardware.devices=1", "train.max_steps=40"],
                    tmp_path, timeout=400))
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    resumed, resumed_one = weights(tmp_path / "stopped"), weights(tmp_path / "stopped_one")
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
        torch.testing.assert_close(resumed_one[key], two[key], rtol=1e-4, atol=1e-5, msg=key)
    assert all(torch.equal(resumed[k], two[k]) for k in two), "resume on 2 ranks is not exact"
    assert read_json(tmp_path / "stopped_one" / "run.json")["world_size"] == 1


def test_gan_families_run_as_a_sweep_of_ddp_jobs(tmp_path):
    """Every GAN family under DDP (n_critic 5 with a penalty and an EMA generator, mixed batches, InfoGAN's Q),
    as one `-m` sweep: its jobs run one after another and no rank launches the sweep again."""
    result = run_genbench(["-m", *DDP, "model=wgan_gp,bgan,infogan", "model.ema.decay=0.99", "train.max_steps=6",
                           "train.log_every=3", "train.checkpoint_every=3", "eval.every=3", "eval.n=200",
                           "logger=csv", "hydra.sweep.dir=sweep"], tmp_path, timeout=600)
    ok(result)
    assert result.stdout.count("Launching 3 jobs locally") == 1, "the sweep was launched again by a rank"
    for job in ("0", "1", "2"):
        assert read_json(tmp_path / "sweep" / job / "run.json")["status"] == "completed", job
        ckpt = torch.load(tmp_path / "sweep" / job / "checkpoints" / "last.ckpt", weights_only=True)
        assert ckpt["genbench"]["g_step"] == 6
    assert not (tmp_path / "sweep" / "3").exists()


def test_regularizers_with_their_own_networks_and_update_schemes_under_ddp(tmp_path):
    """reg=lens (its own network and optimizer), consensus (the joint field) and R1 with TTUR, under
    simultaneous updates."""
    result = run_genbench(["-m", *DDP, "reg=[gp0,lens],consensus,r1", "train.updates=simultaneous",
                           "model.opt_d.lr=4e-4", "train.max_steps=6", "train.log_every=3",
                           "train.checkpoint_every=3", "eval.every=6", "eval.n=200", "logger=csv",
                           "hydra.sweep.dir=sweep"], tmp_path, timeout=600)
    ok(result)
    for job in ("0", "1", "2"):
        assert read_json(tmp_path / "sweep" / job / "run.json")["status"] == "completed", job


def test_vae_trains_under_ddp(tmp_path, mnist_root):
    ok(run_genbench([*DDP, "model=vae", "train.max_steps=6", "train.log_every=3", "train.checkpoint_every=3",
                     "eval.every=6", "metrics.elbo.n=64", "logger=csv", "hydra.run.dir=run"], tmp_path,
                    timeout=400, env=genbench_env(GENBENCH_DATA=str(mnist_root))))
    final = read_json(tmp_path / "run" / "metrics.json")["final"]
    assert read_json(tmp_path / "run" / "run.json")["status"] == "completed" and final["step"] == 6
    assert final["elbo/neg_elbo"] > 0


def test_a_nan_stops_every_rank_with_status_diverged(tmp_path):
    result = run_genbench([*DDP, "reg=none", "model.opt_d.lr=1e6", "train.max_steps=50", "train.log_every=2",
                           "logger=csv", "hydra.run.dir=run"], tmp_path, timeout=400)
    ok(result)
    assert read_json(tmp_path / "run" / "run.json")["status"] == "diverged"
    assert "diverged" in result.stdout + result.stderr


def test_sigterm_to_rank_0_stops_both_ranks_at_a_step_and_resume_is_exact(tmp_path):
    """SIGTERM to the genbench process (rank 0 only): both ranks stop at the same step boundary, last.ckpt is
    saved, run.json says interrupted; resumed, the run ends on the uninterrupted run's weights exactly.
    (Ctrl-C's SIGINT takes the same path: tests/test_run_ownership.py.)"""
    args = [*DDP, *PLAIN, "train.checkpoint_every=100000"]
    proc = start_genbench([*args, "train.max_steps=3000", "hydra.run.dir=run"], tmp_path)
    wait_for_step(tmp_path / "run", 30, proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, out[-3000:]
    assert read_json(tmp_path / "run" / "run.json")["status"] == "interrupted", out[-3000:]
    stopped_at = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["genbench"]["g_step"]
    assert 30 <= stopped_at < 3000
    target = stopped_at + 10
    ok(run_genbench([f"resume={tmp_path / 'run'}", f"train.max_steps={target}"], tmp_path, timeout=400))
    ok(run_genbench([*args, f"train.max_steps={target}", "hydra.run.dir=straight"], tmp_path, timeout=400))
    a, b = weights(tmp_path / "run"), weights(tmp_path / "straight")
    assert all(torch.equal(a[k], b[k]) for k in a), "the interrupted run did not resume exactly"


# ----------------------------------------------------------------------------- collectives in 2 gloo processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Flat:
    """A deterministic stand-in for Inception: features of uint8 images (the gather path is the same)."""

    has_logits = True
    identity = {"extractor": "flat-test"}

    def __call__(self, images):
        x = images.float().flatten(1)
        return {"pool": x[:, :16] / 255 + x[:, 16:32] / 510, "logits": x[:, :5] / 64}


class _Data:
    class dataset:  # noqa: N801
        name, shape, is_image = "toyimg", (1, 8, 8), True

    def real_samples(self, n, split="train"):
        return torch.randint(0, 256, (n, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)


def _metric_values(cache: str) -> dict:
    """FID, KID, PRDC and IS of 40 fixed samples through the Evaluator's path, on whatever world this is."""
    from genbench.callbacks.evaluation import Evaluator
    from genbench.metrics.choice import Choice
    from genbench.metrics.fid import FID
    from genbench.metrics.inception_score import InceptionScore
    from genbench.metrics.kid import KID
    from genbench.metrics.prdc import PRDC
    from genbench.parallel import distributed

    samples = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    local = samples[distributed.shard(40)]
    metrics = [FID(extractor="classifier", cache_dir=cache), KID(subsets=5, subset_size=10, extractor="classifier",
               cache_dir=cache), PRDC(extractor="classifier", cache_dir=cache),
               InceptionScore(splits=2, extractor="classifier", cache_dir=cache)]
    evaluator = Evaluator(cache, Choice(tuple(metrics), None, None), every=1, n=40)
    trainer = SimpleNamespace(is_global_zero=distributed.rank() == 0, datamodule=_Data())
    module = SimpleNamespace(g_step=1)
    row = {}
    for m in metrics:
        m.bank._extractor = _Flat()
        row.update(evaluator._run_metric(trainer, module, m, local, {}) or {})
    return row


def _rank(rank: int, port: int, cache: str, out: dict) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        from genbench.parallel import distributed

        values = _metric_values(cache)
        out[f"metrics{rank}"] = values
        out[f"any{rank}"] = distributed.agree_any(rank == 1)      # only rank 1 saw a signal
        out[f"all{rank}"] = distributed.agree_all(rank == 0)      # a NaN on rank 1 only
        out[f"shard{rank}"] = distributed.shard(5)
        out[f"rows{rank}"] = distributed.local_rows(lambda n: torch.arange(n), 3).tolist()
    finally:
        dist.destroy_process_group()


def test_two_ranks_gather_features_and_agree(tmp_path):
    """Feature metrics from 2 ranks (each extracting its share) equal 1 rank's on the same seeded samples;
    a signal or a NaN on one rank is seen by both; each rank keeps its own rows of a global draw."""
    single = _metric_values(str(tmp_path / "one"))
    out = mp.Manager().dict()
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_rank, args=(_free_port(), str(tmp_path / "two"), out), nprocs=2, join=True)
    assert set(single) == set(out["metrics0"]) and out["metrics1"] == {}
    for key, value in single.items():
        assert out["metrics0"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert out["any0"] and out["any1"] and not out["all0"] and not out["all1"]
    assert out["shard0"] == slice(0, 2) and out["shard1"] == slice(2, 5)
    assert out["rows0"] == [0, 1, 2] and out["rows1"] == [3, 4, 5]


def test_a_rank_that_dies_takes_the_run_down_as_failed(tmp_path):
    """kill -9 of rank 1: rank 0 does not wait in a collective forever; it marks the run failed and leaves."""
    proc = start_genbench([*DDP, *PLAIN, "train.max_steps=100000", "hydra.run.dir=run"], tmp_path)
    wait_for_step(tmp_path / "run", 20, proc)
    children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == proc.pid]
    ranks = [pid for pid in children if b"genbench.parallel.rank_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(ranks) == 1, children
    os.kill(ranks[0], signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out[-3000:]
    record = read_json(tmp_path / "run" / "run.json")
    # whichever notices first: the watch on the children, or gloo on rank 0 when its peer's connection closes
    assert record["status"] == "failed", record
    assert "rank 1 exited with code -9" in record["error"] or "gloo" in record["error"], record  # gloo: peer gone


def _parent(proc_dir: Path) -> int | None:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_local_parallel_runs_two_rank_jobs(tmp_path):
    """hardware=local_parallel (submitit's local executor, the code path of hardware=slurm) with 2 ranks a job:
    genbench starts the second rank inside the job."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the cluster extra")
    ok(run_genbench(["-m", "hardware=local_parallel", "hardware.devices=2", "seed=0", "debug=fast", "logger=csv",
                     "hydra.sweep.dir=sweep"], tmp_path, timeout=400))
    record = read_json(tmp_path / "sweep" / "0" / "run.json")
    assert (record["status"], record["world_size"], record["generator_steps"]) == ("completed", 2, 20)
    assert STRAGGLER not in (tmp_path / "sweep" / "0" / "genbench.log").read_text()  # sampled at the last step


def test_the_default_loggers_close_cleanly_on_every_rank(tmp_path):
    """With W&B (the default logger=[csv,wandb]) only rank 0 writes the run's summary: the other ranks' W&B logger
    holds a dummy run, which once raised AttributeError at the end of training."""
    result = run_genbench([*DDP, "debug=fast", "hydra.run.dir=run"], tmp_path, timeout=400)
    ok(result)
    assert "Traceback" not in result.stderr, result.stderr[-4000:]
    assert read_json(tmp_path / "run" / "run.json")["status"] == "completed"
