"""W&B shows what the run folder shows: every picture under its own key, the headline numbers in the run's summary,
a readable name, tags (paper, row, seed for a paper-table row) and a sweep as a group; offline, read back from the
run file (tests/wandb_records.py)."""

from __future__ import annotations

from conftest import genbench_env, read_json, run_genbench
from wandb_records import offline_run

SHORT = ["train.log_every=10", "train.checkpoint_every=1000", "hardware.threads=1"]


def test_a_run_logs_every_picture_under_its_own_key_and_its_headline_numbers(tmp_path):
    """InfoGAN on ring8: samples, one key per code's traversal (their sizes differ from the samples'), the Geometry
    Score's MRLTs, the birthday test's closest pairs; the final metrics in the summary; no "anonymous setting"
    warning (W&B not silenced)."""
    env = {k: v for k, v in genbench_env().items() if k != "WANDB_SILENT"}
    proc = run_genbench(["model=infogan", "train.max_steps=40", "train.sample_every=20", "eval.every=20",
                         "eval.n=300", "metrics=[modes,gs,birthday]", "metrics.gs.n=5", "metrics.birthday.s=100",
                         *SHORT, "hydra.run.dir=run"],
                        tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "anonymous" not in proc.stderr + proc.stdout
    run = offline_run(tmp_path / "run")
    codes = {p.name.split("_step_")[0].removeprefix("traverse_") for p in (tmp_path / "run/samples").glob("traverse_*")}
    assert codes and run["image_keys"] == {"samples", "metrics/gs", "metrics/birthday",
                                           *(f"samples/traverse_{c}" for c in codes)}
    final = read_json(tmp_path / "run" / "metrics.json")["final"]
    assert run["summary"]["status"] == "completed" and run["summary"]["generator_steps"] == 40
    assert run["summary"]["modes/covered"] == final["modes/covered"]
    assert run["summary"]["gs/score"] == final["gs/score"]
    assert run["summary"]["birthday/support"] == final["birthday/support"]
    assert run["name"] == "infogan-ring8-s0"
    assert {"model=infogan", "dataset=ring8", "seed=0"} <= set(run["tags"])
    assert "train.max_steps=40" in run["notes"] and run["group"] == ""


def test_a_paper_table_row_is_named_and_tagged_and_its_sweep_is_a_group(tmp_path):
    """The Dirac-GAN study's R1 row under two update schemes: `mescheder2018/R1, <scheme>/s0`, tagged paper, row,
    seed and scheme, grouped by the sweep folder; its phase portrait under figures/. genbench-table's tiled
    portraits go to the group's run `<group>/table`."""
    proc = run_genbench(["-m", "experiment=mescheder2018/dirac_methods", "experiment/mescheder2018@_global_=r1",
                         "experiment/mescheder2018/scheme@_global_=simultaneous,alternating", "train.max_steps=20",
                         "eval.every=20", "metrics.dirac.grid=3", "hydra.sweep.dir=sweep_r1"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for job, (scheme, words) in enumerate([("simultaneous", "simultaneous GD"),
                                           ("alternating", "alternating GD, 1 D step")]):
        run = offline_run(tmp_path / "sweep_r1" / str(job))
        assert run["name"] == f"mescheder2018/R1, {words}/s0"
        assert {"paper=mescheder2018", "row=R1", "seed=0", f"scheme={scheme}"} <= set(run["tags"])
        assert run["group"] == "sweep_r1"
        assert run["image_keys"] == {"figures/phase_portrait"}
        assert run["summary"]["dirac/converged"] in (0, 1)
    table = run_genbench(["sweep_r1"], tmp_path, exe="genbench-table")
    assert table.returncode == 0, table.stderr
    run = offline_run(tmp_path / "sweep_r1")
    assert (run["name"], run["group"], run["job_type"]) == ("sweep_r1/table", "sweep_r1", "table")
    assert run["image_keys"] == {"figures/phase_portraits"} and "paper=mescheder2018" in run["tags"]


def test_a_vae_paper_sweep_names_each_setting_and_logs_its_pictures_and_rate_distortion_plane(tmp_path, mnist_root):
    """alemi2018/beta_sweep over two betas, in the tables' folder layout: one name per beta (the swept setting
    appended), group `<paper>/<sweep folder>`; reconstructions, traversals, KL per dimension under their keys; then
    genbench-table logs the sweep's rate-distortion plane to the group's table run."""
    env = genbench_env(GENBENCH_DATA=str(mnist_root))
    proc = run_genbench(["-m", "experiment=alemi2018/beta_sweep", "budget=smoke", "model.beta=0.5,4",
                         "hardware.threads=1"], tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "outputs/tables/alemi2018/mnist-smoke"
    for job, beta in ((0, 0.5), (1, 4)):
        run = offline_run(sweep / str(job))
        assert run["name"] == f"alemi2018/beta-VAE/s0 (model.beta={beta})"
        assert {"paper=alemi2018", "row=beta-VAE", "seed=0"} <= set(run["tags"])
        assert run["group"] == "alemi2018/mnist-smoke"
        assert run["image_keys"] == {"samples", "samples/reconstructions", "samples/traversals", "metrics/kl_per_dim"}
        assert run["summary"]["elbo/rate"] == read_json(sweep / str(job) / "metrics.json")["final"]["elbo/rate"]
    table = run_genbench([str(sweep)], tmp_path, exe="genbench-table", env=env)
    assert table.returncode == 0, table.stderr
    run = offline_run(sweep)
    assert (run["name"], run["group"], run["job_type"]) == ("alemi2018/mnist-smoke/table", "alemi2018/mnist-smoke",
                                                          "table")
    assert run["image_keys"] == {"figures/rate_distortion"}
    again = run_genbench(["--no-wandb", str(sweep)], tmp_path, exe="genbench-table", env=env)
    assert again.returncode == 0 and len(list(sweep.glob("wandb/offline-run-*"))) == 1


# Every experiment keeps W&B offline: tests/test_tables.py composes each one and checks it.


def test_offline_is_the_default():
    from hydra import compose, initialize_config_module

    with initialize_config_module("genbench.conf", version_base="1.3"):
        cfg = compose("config")
    assert cfg.logger.wandb.mode == "offline"
