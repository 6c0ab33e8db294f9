"""Runs you can trust (issue 13): resume that refuses to mix, one owner per folder, finished runs left alone,
Ctrl-C at a step boundary, honest divergence bookkeeping. Each through the `genbench` executable."""

from __future__ import annotations

import shutil
import signal
import subprocess

import pytest
import torch
from conftest import read_json, run_genbench, start_genbench, wait_for_step

pytestmark = pytest.mark.slow

TINY = ["train.log_every=5", "train.sample_every=1000", "train.checkpoint_every=10", "eval.every=10",
        "eval.n=200", "logger=csv", "hardware.threads=1"]


def finished_run(tmp_path, name="run", steps=20, extra=()):
    result = run_genbench([f"hydra.run.dir={name}", f"train.max_steps={steps}", *TINY, *extra], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path / name


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("genbench: error: "), result.stderr[-3000:]
    return lines[0]


def snapshot(run) -> dict:
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and ".genbench.lock" not in p.name}


def test_resume_refuses_another_model_or_learning_rate_and_writes_nothing(tmp_path):
    run = finished_run(tmp_path)
    before = snapshot(run)
    line = one_error_line(run_genbench([f"resume={run}", "model=wgan_gp", "train.max_steps=40"], tmp_path))
    assert "model.n_critic" in line and "model.opt_d.lr" in line and "start a new run" in line
    line = one_error_line(run_genbench([f"resume={run}", "model.opt_g.lr=1e-3", "train.max_steps=40"], tmp_path))
    assert "model.opt_g.lr" in line
    assert snapshot(run) == before, "a refused resume changed the run folder"


def test_resume_may_extend_the_budget_and_change_logging(tmp_path):
    run = finished_run(tmp_path)
    result = run_genbench([f"resume={run}", "train.max_steps=30", "train.log_every=10", "logger=csv"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_json(run / "run.json")["generator_steps"] == 30


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    run = finished_run(tmp_path, "run")
    other = finished_run(tmp_path, "other", extra=["model=wgan_gp"])
    shutil.copy(other / "checkpoints" / "last.ckpt", run / "checkpoints" / "last.ckpt")
    record = (run / "run.json").read_bytes()
    line = one_error_line(run_genbench([f"resume={run}", "train.max_steps=40"], tmp_path))
    assert "another configuration" in line and "does not belong" in line
    assert (run / "run.json").read_bytes() == record


def test_a_truncated_checkpoint_is_refused_and_the_record_kept(tmp_path):
    run = finished_run(tmp_path)
    ckpt = run / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    record = (run / "run.json").read_bytes()
    line = one_error_line(run_genbench([f"resume={run}", "train.max_steps=40"], tmp_path))
    assert "cannot be read" in line and "left as it was" in line
    assert (run / "run.json").read_bytes() == record and read_json(run / "run.json")["status"] == "completed"


def test_resuming_a_finished_run_without_more_steps_changes_nothing(tmp_path):
    run = finished_run(tmp_path)
    before = snapshot(run)
    result = run_genbench([f"resume={run}"], tmp_path)
    assert result.returncode == 0 and "is finished (20 of 20 generator steps" in result.stdout, result.stderr
    assert snapshot(run) == before


def test_a_finished_run_without_checkpoints_is_not_trained_over(tmp_path):
    run = finished_run(tmp_path)
    shutil.rmtree(run / "checkpoints")
    before = snapshot(run)
    line = one_error_line(run_genbench(["hydra.run.dir=run", "train.max_steps=5", *TINY], tmp_path))
    assert "already holds a run" in line
    assert {k: v for k, v in snapshot(run).items() if not str(k).startswith(".hydra")} == \
        {k: v for k, v in before.items() if not str(k).startswith(".hydra")}


def _start(tmp_path, args):
    return start_genbench(args, tmp_path)


def test_a_run_still_training_has_one_owner(tmp_path):
    """resume= on a run that is still training is refused, naming the live owner; the run goes on."""
    run = finished_run(tmp_path, steps=10)
    proc = _start(tmp_path, [f"resume={run}", "train.max_steps=100000", "train.log_every=5"])
    try:
        wait_for_step(run, 20, proc)
        line = one_error_line(run_genbench([f"resume={run}", "train.max_steps=100000"], tmp_path))
        assert "is being trained by" in line and f"pid {proc.pid}" in line
        assert read_json(run / "run.json")["status"] == "running"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    assert read_json(run / "run.json")["status"] == "interrupted"


def test_ctrl_c_saves_at_a_step_boundary_and_resume_is_exact(tmp_path):
    args = ["train.max_steps=3000", "train.checkpoint_every=100000", "metrics=none", *TINY[:1], "logger=csv",
            "hardware.threads=1"]
    proc = _start(tmp_path, ["hydra.run.dir=run", *args])
    wait_for_step(tmp_path / "run", 20, proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    assert read_json(tmp_path / "run" / "run.json")["status"] == "interrupted"
    step = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["genbench"]["g_step"]
    target = step + 10
    assert run_genbench([f"resume={tmp_path / 'run'}", f"train.max_steps={target}"], tmp_path).returncode == 0
    straight = run_genbench(["hydra.run.dir=straight", *args, f"train.max_steps={target}"], tmp_path)
    assert straight.returncode == 0, straight.stderr[-3000:]
    a = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a), "Ctrl-C broke exact resume"


@pytest.mark.parametrize("lr, every, saved", [(1e6, 1000, False), (300, 1, True)])
def test_divergence_says_what_was_kept_and_never_keeps_a_non_finite_optimizer(tmp_path, lr, every, saved):
    """lr 1e6 diverges at step 2, before any checkpoint; lr 300, checkpointed every step, has finite weights but
    a non-finite Adam state at step 2: last.ckpt keeps step 1, and the log says which."""
    result = run_genbench(["hydra.run.dir=run", f"model.opt_d.lr={lr}", "train.max_steps=200",
                           "train.log_every=1", f"train.checkpoint_every={every}", "metrics=none", "logger=csv",
                           "hardware.threads=1"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_json(tmp_path / "run" / "run.json")["status"] == "diverged"
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    if not saved:
        assert not ckpt.exists() and "no checkpoints/last.ckpt was written" in result.stdout + result.stderr
        return
    assert ckpt.exists() and "checkpoints/last.ckpt holds generator step 1," in result.stdout + result.stderr
    state = torch.load(ckpt, weights_only=True)
    for opt in state["optimizer_states"]:
        for slot in opt["state"].values():
            for value in slot.values():
                if torch.is_tensor(value) and value.is_floating_point():
                    assert torch.isfinite(value).all(), "a non-finite optimizer state was saved"
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())


def test_a_full_disk_fails_with_one_line_and_leaves_no_partial_checkpoint(tmp_path):
    """A 600 KiB tmpfs fills at the first checkpoint: one line naming the file, status failed, no *.tmp left."""
    import os

    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        line = one_error_line(run_genbench([f"hydra.run.dir={disk / 'run'}", "train.max_steps=40", *TINY], tmp_path))
        assert "cannot write" in line and "No space left on device" in line
        assert read_json(disk / "run" / "run.json")["status"] == "failed"
        assert not list((disk / "run").rglob("*.tmp"))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_corrupt_image_read_by_a_worker_is_one_line(tmp_path):
    import numpy as np
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    for i in range(40):
        Image.fromarray(np.full((8, 8, 3), i * 6, np.uint8)).save(images / f"{i:03d}.png")
    (images / "017.png").write_bytes(b"not a png")
    line = one_error_line(run_genbench(["hydra.run.dir=run", "dataset=folder", f"dataset.root={images}",
                                        "dataset.image_size=28", "dataset.batch_size=8", "dataset.num_workers=2",
                                        "train.max_steps=20", *TINY], tmp_path))
    assert "017.png" in line and "cannot read the image" in line


def test_a_batch_larger_than_the_dataset_is_one_line(tmp_path):
    line = one_error_line(run_genbench(["hydra.run.dir=run", "dataset.batch_size=1000000", *TINY], tmp_path))
    assert "dataset.batch_size=1000000" in line and "choose at most 100000" in line
    assert read_json(tmp_path / "run" / "run.json")["status"] == "failed"  # a fresh folder: its record says why
