"""End to end through the `genbench` executable, in a temporary folder, as a user runs it."""

from __future__ import annotations

import signal
import time

import torch
import yaml
from conftest import genbench_env, read_json, run_genbench, start_genbench

FAST = ["train.log_every=5", "train.sample_every=10", "train.checkpoint_every=10", "eval.every=10",
        "eval.n=500", "logger=csv"]


def test_default_run_covers_the_ring(tmp_path):
    """`genbench` with no overrides: the embedded default leaves every promised output and a good result."""
    result = run_genbench(["hydra.run.dir=run"], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    record = read_json(run / "run.json")
    assert record["status"] == "completed" and record["generator_steps"] == 8000
    assert record["versions"]["torch"] and record["seed"] == 0 and record["wall_time_s"] > 0
    metrics = read_json(run / "metrics.json")
    assert metrics["final"]["step"] == 8000 and len(metrics["history"]) == 8
    assert metrics["final"]["modes/covered"] == 8, metrics["final"]
    assert metrics["final"]["modes/hq_fraction"] > 0.5, metrics["final"]
    assert metrics["best"]["metric"] == "modes/hq_fraction"
    for name in ("checkpoints/last.ckpt", "checkpoints/best.ckpt", "samples/step_8000.png", "csv/metrics.csv",
                 "genbench.log", ".hydra/config.yaml"):
        assert (run / name).is_file(), name
    assert list((run / "wandb").glob("offline-run-*/run-*.wandb")), "no offline W&B run"
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["genbench"]["g_step"] == 8000


def test_short_mnist_image_run(tmp_path, mnist_root):
    result = run_genbench(["hydra.run.dir=run", "dataset=mnist", "train.max_steps=10", *FAST, "metrics=none"], tmp_path,
                          env=genbench_env(GENBENCH_DATA=str(mnist_root)))
    assert result.returncode == 0, result.stderr[-3000:]
    from PIL import Image

    grid = Image.open(tmp_path / "run" / "samples" / "step_10.png")
    assert grid.size == (8 * 30 + 2, 8 * 30 + 2)  # 64 samples of 28x28 with 2-pixel gaps
    assert read_json(tmp_path / "run" / "run.json")["status"] == "completed"
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_sweep_of_eight_jobs_and_table(tmp_path):
    """The issue's sweep: 2 models x 2 regs x 2 seeds = 8 jobs, each in its own folder; then the table."""
    result = run_genbench(["-m", "model=gan,wgan_gp", "reg=none,sn", "seed=0,1", "hydra.sweep.dir=sweep",
                           "debug=fast", "logger=csv"], tmp_path, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    said = result.stdout + result.stderr
    assert "sweep done: 8 jobs in sweep (8 completed); the table: genbench-table sweep" in said, said[-3000:]
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == [str(i) for i in range(8)]
    settings = set()
    for job in jobs:
        overrides = yaml.safe_load((tmp_path / "sweep" / job / ".hydra" / "overrides.yaml").read_text())
        config = yaml.safe_load((tmp_path / "sweep" / job / ".hydra" / "config.yaml").read_text())
        assert read_json(tmp_path / "sweep" / job / "run.json")["status"] == "completed"
        reg = [o for o in overrides if o.startswith("reg=")][0].split("=")[1]
        assert set(config["reg"]) == (set() if reg == "none" else {"sn"})  # the command line beats the model
        settings.add(tuple(o for o in overrides if not o.startswith("seed=")))
    assert len(settings) == 4
    table = run_genbench(["sweep"], tmp_path, exe="genbench-table")
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith("| model=")]
    assert len(rows) == 4 and all("2 completed" in r for r in rows)
    assert "modes/covered" in table.stdout


def test_a_sweep_whose_job_fails_on_bad_input_ends_with_its_report_and_one_error_line(tmp_path):
    """Job 1's value is refused when it starts; job 0 still runs. The sweep ends with how its jobs ended and one
    `genbench: error:` line naming the failed job (exit code 2), not a traceback."""
    result = run_genbench(["-m", "model.opt_d.lr=2e-4,-1", "hydra.sweep.dir=sweep", "debug=fast", "logger=csv"],
                          tmp_path, timeout=300)
    said = result.stdout + result.stderr
    assert result.returncode == 2, said[-3000:]
    assert "sweep done: 2 jobs in sweep (1 completed, 1 failed); the table: genbench-table sweep" in said, said[-3000:]
    assert result.stderr.strip().splitlines()[-1].startswith(
        "genbench: error: job 1 of the sweep failed: model.opt_d.lr=-1 must be a positive number"), said[-3000:]
    assert "Traceback" not in said, said[-3000:]
    assert read_json(tmp_path / "sweep" / "0" / "run.json")["status"] == "completed"
    assert not (tmp_path / "sweep" / "1" / "run.json").exists()  # refused before its run started


def test_sigterm_then_resume(tmp_path):
    """SIGTERM saves a checkpoint and marks the run interrupted; resume=<dir> finishes it in place."""
    run = tmp_path / "run"
    proc = start_genbench(["hydra.run.dir=run", "train.max_steps=100000", "train.checkpoint_every=50",
                           "train.log_every=50", "eval.every=100", "eval.n=500", "logger=csv"], tmp_path)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "last.ckpt").is_file() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    record = read_json(run / "run.json")
    assert record["status"] == "interrupted", out[-2000:]
    stopped = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["genbench"]
    assert stopped["g_step"] == record["generator_steps"] > 0
    target = stopped["g_step"] + 120
    result = run_genbench([f"resume={run}", f"train.max_steps={target}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = read_json(run / "run.json")
    assert record["status"] == "completed" and record["generator_steps"] == target and record["attempts"] == 2
    steps = [h["step"] for h in read_json(run / "metrics.json")["history"]]
    assert steps == sorted(set(steps)) and steps[-1] == target


def test_nan_marks_diverged_keeps_last_good_checkpoint_and_sweep_goes_on(tmp_path):
    """Plain SGD on an unconstrained Wasserstein critic blows up within a few dozen steps (lr 0.1)."""
    sgd = ["loss=wasserstein", "reg=none", "model.opt_d.name=sgd", "model.opt_g.name=sgd", "model.opt_g.lr=0.1"]
    result = run_genbench(["-m", "model.opt_d.lr=0.1,0.001", *sgd, "train.max_steps=60", "train.log_every=1",
                           "train.checkpoint_every=1", "eval.every=30", "logger=csv", "hydra.sweep.dir=sweep"],
                          tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    diverged, healthy = tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"
    record = read_json(diverged / "run.json")
    assert record["status"] == "diverged" and record["generator_steps"] < 60
    ckpt = torch.load(diverged / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["genbench"]["g_step"] == record["generator_steps"] - 1
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
    assert read_json(healthy / "run.json")["status"] == "completed"
    table = run_genbench(["sweep"], tmp_path, exe="genbench-table")
    assert "1 diverged" in table.stdout and "1 completed" in table.stdout


def test_same_seed_same_losses(tmp_path):
    args = ["debug=fast", "logger=none", "seed=3"]
    histories = []
    for name in ("a", "b"):
        assert run_genbench([f"hydra.run.dir={name}", *args], tmp_path).returncode == 0
        histories.append(read_json(tmp_path / name / "metrics.json")["history"])
    strip = [[{k: v for k, v in h.items() if not k.startswith("time/")} for h in hist] for hist in histories]
    assert strip[0] == strip[1] and "loss/d" in strip[0][-1]
    assert run_genbench(["hydra.run.dir=c", "debug=fast", "logger=none", "seed=4"], tmp_path).returncode == 0
    other = read_json(tmp_path / "c" / "metrics.json")["history"][-1]
    assert other["loss/d"] != strip[0][-1]["loss/d"]


def test_genbench_eval_after_training(tmp_path):
    """genbench-eval re-composes the run's config, loads its checkpoint and appends to eval.json."""
    assert run_genbench(["hydra.run.dir=run", "debug=fast", "logger=none"], tmp_path).returncode == 0
    gen = run_genbench(["run", "eval.n=1000"], tmp_path, exe="genbench-eval")
    assert gen.returncode == 0, gen.stderr
    moved = run_genbench(["run", "metrics.n=1000"], tmp_path, exe="genbench-eval")
    assert moved.returncode == 2 and moved.stderr.startswith("genbench-eval: error: metrics.n moved to eval.n")
    assert "write eval.n=1000" in moved.stderr and len(moved.stderr.strip().splitlines()) == 1
    real = run_genbench(["run/checkpoints/last.ckpt", "--real-vs-real"], tmp_path, exe="genbench-eval")
    assert real.returncode == 0, real.stderr
    entries = read_json(tmp_path / "run" / "eval.json")
    assert [e["generator"] for e in entries] == ["raw", "real test split"]
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert entries[0]["checkpoint"].endswith("best.ckpt") and entries[0]["n_samples"] == 1000
    assert entries[0]["generator_step"] == best["genbench"]["g_step"] and entries[1]["generator_step"] == 20
    # Real held-out data is the floor: all 8 modes, ~98.9% within 3 std (1 - exp(-4.5) for a 2D Gaussian).
    assert entries[1]["metrics"]["modes/covered"] == 8
    assert abs(entries[1]["metrics"]["modes/hq_fraction"] - 0.989) < 0.01
    bad = run_genbench(["nowhere"], tmp_path, exe="genbench-eval")
    assert bad.returncode == 2 and "genbench-eval: error:" in bad.stderr


def test_image_folder_run(tmp_path):
    """dataset=folder (e.g. CelebA): PIL reading, centre crop and resize, batches from a DataLoader."""
    from PIL import Image

    images = tmp_path / "faces" / "part1"
    images.mkdir(parents=True)
    rng = torch.Generator().manual_seed(0)
    for i in range(80):
        pixels = torch.randint(0, 256, (48, 40, 3), generator=rng, dtype=torch.uint8).numpy()
        Image.fromarray(pixels).save(images / f"{i:03d}.png")
    result = run_genbench(["hydra.run.dir=run", "dataset=folder", f"dataset.root={tmp_path / 'faces'}",
                           "dataset.crop=36", "dataset.image_size=32", "dataset.batch_size=16",
                           "dataset.num_workers=0", "debug=fast", "logger=none", "metrics=none"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    from PIL import Image as PILImage

    assert PILImage.open(tmp_path / "run" / "samples" / "step_20.png").size == (8 * 34 + 2, 8 * 34 + 2)
    assert read_json(tmp_path / "run" / "run.json")["status"] == "completed"


def test_ema_generator_is_kept_and_used(tmp_path):
    """model.ema.decay keeps an averaged copy of G in the checkpoint; it lags the raw generator."""
    result = run_genbench(["hydra.run.dir=run", "debug=fast", "logger=none", "model.ema.decay=0.9"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    weights = state["state_dict"]
    ema = {k.removeprefix("generator_ema."): v for k, v in weights.items() if k.startswith("generator_ema.")}
    raw = {k.removeprefix("generator."): v for k, v in weights.items() if k.startswith("generator.")}
    assert ema.keys() == raw.keys() and ema
    assert any(not torch.equal(ema[k], raw[k]) for k in raw)
    assert all(torch.isfinite(v).all() for v in ema.values())
    gen = run_genbench(["run"], tmp_path, exe="genbench-eval")
    assert gen.returncode == 0, gen.stderr
    assert read_json(tmp_path / "run" / "eval.json")[0]["generator"] == "ema"
