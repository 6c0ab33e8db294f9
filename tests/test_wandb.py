"""W&B shows what the run folder shows: every picture under its own key, the headline numbers in the run's summary,
a readable name, tags (paper, row, seed for a paper-table row) and a sweep as a group; offline, read back from the
run file (tests/wandb_records.py)."""

from __future__ import annotations

from conftest import genbench_env, read_json, run_genbench
from wandb_records import offline_run

SHORT = ["train.log_every=10", "train.checkpoint_every=1000", "hardware.threads=1"]


def test_a_run_logs_every_picture_under_its_own_key_and_its_headline_numbers(tmp_path):
    """InfoGAN on ring8: samples, one key per code's traversal (their sizes differ from the samples'), the Geometry
    Score's MRLTs; the final metrics in the summary; no "anonymous setting" warning (W&B not silenced)."""
    env = {k: v for k, v in genbench_env().items() if k != "WANDB_SILENT"}
    proc = run_genbench(["model=infogan", "train.max_steps=40", "train.sample_every=20", "eval.every=20",
                         "eval.n=300", "metrics=[modes,gs]", "metrics.gs.n=5", *SHORT, "hydra.run.dir=run"],
                        tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "anonymous" not in proc.stderr + proc.stdout
    run = offline_run(tmp_path / "run")
    codes = {p.name.split("_step_")[0].removeprefix("traverse_") for p in (tmp_path / "run/samples").glob("traverse_*")}
    assert codes and run["image_keys"] == {"samples", "metrics/gs", *(f"samples/traverse_{c}" for c in codes)}
    final = read_json(tmp_path / "run" / "metrics.json")["final"]
    assert run["summary"]["status"] == "completed" and run["summary"]["generator_steps"] == 40
    assert run["summary"]["modes/covered"] == final["modes/covered"]
    assert run["summary"]["gs/score"] == final["gs/score"]
    assert run["name"] == "infogan-ring8-s0"
    assert {"model=infogan", "dataset=ring8", "seed=0"} <= set(run["tags"])
    assert "train.max_steps=40" in run["notes"] and run["group"] == ""


def test_a_paper_table_row_is_named_and_tagged_and_its_sweep_is_a_group(tmp_path):
    """Two seeds of the Dirac-GAN's R1 row: `mescheder2018/R1/s<seed>`, tagged paper, row and seed, grouped by the
    sweep folder; its phase portrait under figures/."""
    proc = run_genbench(["-m", "experiment=mescheder2018/r1", "seed=0,1", "train.max_steps=20", "eval.every=20",
                         "metrics.dirac.grid=3", "hydra.sweep.dir=sweep_r1"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for seed in (0, 1):
        run = offline_run(tmp_path / "sweep_r1" / str(seed))
        assert run["name"] == f"mescheder2018/R1/s{seed}"
        assert {"paper=mescheder2018", "row=R1", f"seed={seed}"} <= set(run["tags"])
        assert run["group"] == "sweep_r1"
        assert "figures/phase_portrait" in run["image_keys"]
        assert run["summary"]["dirac/converged"] in (0, 1)


def test_a_vae_logs_its_reconstructions_traversals_and_kl_per_dimension(tmp_path, mnist_root):
    env = genbench_env(GENBENCH_DATA=str(mnist_root))
    proc = run_genbench(["model=vae", "dataset=mnist", "train.max_steps=20", "train.sample_every=20", "eval.every=20",
                         "metrics=[elbo]", *SHORT, "hydra.run.dir=run"], tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    keys = offline_run(tmp_path / "run")["image_keys"]
    assert {"samples", "samples/reconstructions", "samples/traversals", "metrics/kl_per_dim"} <= keys, keys


def test_offline_is_the_default():
    from hydra import compose, initialize_config_module

    with initialize_config_module("genbench.conf", version_base="1.3"):
        cfg = compose("config")
    assert cfg.logger.wandb.mode == "offline"
