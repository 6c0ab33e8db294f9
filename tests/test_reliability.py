"""Runs you can trust (issue 13): checkpoints load without running code, bad input fails with one line and exit
code 2 (nothing half done), a refused sweep re-run leaves the sweep alone, resume keeps the CSV history, and
run.json can state the thread count the same seed's result depends on."""

from __future__ import annotations

import collections
import csv
import os
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from conftest import run_genbench


class _CreatesFile:
    """A pickled object that creates a file when unpickled with weights_only=False."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _fake_run(root: Path, checkpoint: dict | None = None) -> Path:
    """A run folder as genbench-eval reads it: its overrides and a checkpoint."""
    run = root / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["debug=fast", "logger=none"]))
    (run / "checkpoints").mkdir()
    torch.save(checkpoint if checkpoint is not None else {"state_dict": {"w": torch.zeros(4096)}},
               run / "checkpoints" / "last.ckpt")
    return run


def _eval(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return run_genbench(args, cwd, exe="genbench-eval", timeout=120)


def _one_error(result, prog: str = "genbench") -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{prog}: error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    return errors[0]


# ---------------------------------------------------------------------------- 1. checkpoints run no code


def test_eval_refuses_a_checkpoint_that_would_run_code(tmp_path):
    created = tmp_path / "created_by_the_checkpoint"
    run = _fake_run(tmp_path, {"state_dict": {}, "evil": _CreatesFile(created)})
    result = _eval([str(run)], tmp_path)
    line = _one_error(result, "genbench-eval")
    assert not created.exists(), "loading the checkpoint ran code from it"
    assert "never stores" in line and "trust" in line
    assert not (run / "eval.json").exists()


def test_safe_loader_takes_what_genbench_stores(tmp_path):
    """A MultiStepLR's milestones (a Counter, model.lr_schedule) and the usual tensors and numbers load."""
    from genbench.runs.checkpoint_io import load_checkpoint

    path = tmp_path / "ok.ckpt"
    torch.save({"state_dict": collections.OrderedDict(w=torch.ones(2)), "genbench": {"g_step": 3},
                "lr_schedulers": [{"milestones": collections.Counter({5: 1}), "gamma": 0.5}]}, path)
    state = load_checkpoint(path)
    assert state["lr_schedulers"][0]["milestones"] == collections.Counter({5: 1})
    assert state["genbench"]["g_step"] == 3


def test_no_weights_only_false_in_genbench():
    src = Path(__file__).resolve().parents[1] / "genbench"
    offenders = [str(p) for p in src.rglob("*.py") if "weights_only=False)" in p.read_text()]
    assert not offenders, offenders


# ---------------------------------------------------------------------------- 10. one line, exit 2


def test_eval_truncated_checkpoint_with_options_in_any_order(tmp_path):
    """A truncated checkpoint is one line; `--real-vs-real` may come before the overrides or after them."""
    run = _fake_run(tmp_path)
    ckpt = run / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    for args in ([str(run), "--real-vs-real", "hardware.threads=1"], [str(run), "hardware.threads=1",
                                                                        "--real-vs-real"]):
        line = _one_error(_eval(args, tmp_path), "genbench-eval")
        assert "cannot be read" in line and "truncated" in line, line
    assert not (run / "eval.json").exists()


def _job(sweep: Path, num: int, run_json: str, metrics_json: str) -> Path:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"seed={num}", "model=gan"]))
    (job / "run.json").write_text(run_json)
    (job / "metrics.json").write_text(metrics_json)
    return job


def test_table_skips_a_half_written_job_with_a_warning(tmp_path, capsys):
    from genbench.cli import table

    sweep = tmp_path / "sweep"
    _job(sweep, 0, '{"status": "completed"}', '{"final": {"modes/covered": 8}}')
    _job(sweep, 1, '{"status": "completed"}', '{"final": {"modes/cov')
    _job(sweep, 2, '{"status": "compl', '{"final": {"modes/covered": 6}}')
    assert table.main([str(sweep)]) == 0
    out, err = capsys.readouterr()
    assert "1 job in" in out and "| 8 |" in out, out
    warnings = [line for line in err.splitlines() if line.startswith("genbench-table: warning:")]
    assert len(warnings) == 2, err
    assert str(sweep / "1" / "metrics.json") in warnings[0] and str(sweep / "2" / "run.json") in warnings[1]


@pytest.mark.parametrize("args, expected", [
    (["seed=-1"], "seed=-1 is out of range"),
    (["seed=4294967296"], "seed=4294967296 is out of range"),
    (["hardware.devices=100"], "hardware.devices=100"),
    (["model=wgan_gpp"], "did you mean model=wgan_gp?"),
    (["train.max_step=5"], "did you mean train.max_steps=5?"),
    (["foo.bar=1"], "no key foo.bar"),
])
def test_bad_command_lines_fail_with_one_line(tmp_path, args, expected):
    if args == ["hardware.devices=100"] and (os.cpu_count() or 1) >= 100:
        pytest.skip("a machine with 100 cores")
    result = run_genbench(["hydra.run.dir=run", "logger=none", *args], tmp_path, timeout=120)
    line = _one_error(result)
    assert expected in line, line
    assert "+" not in line.split("error:", 1)[1]  # never Hydra's `+key`: genbench would not read it
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "run.json").exists()


def test_gpu_without_a_gpu_is_refused(monkeypatch):
    from omegaconf import OmegaConf

    from genbench.errors import ConfigError
    from genbench.runs.config_checks import check_machine

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for accelerator in ("gpu", "cuda"):
        with pytest.raises(ConfigError, match="no usable GPU"):
            check_machine(OmegaConf.create({"hardware": {"accelerator": accelerator, "devices": 1}}))
    check_machine(OmegaConf.create({"hardware": {"accelerator": "cpu", "devices": 1}}))


def test_unwritable_output_folder_is_one_line(tmp_path):
    if os.geteuid() == 0:  # root writes through permission bits: use a folder no one may create
        target = Path("/sys/genbench-unwritable")
        if os.access("/sys", os.W_OK) and not Path("/sys/kernel").is_dir():
            pytest.skip("no unwritable folder on this machine")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target = locked / "run"
    result = run_genbench([f"hydra.run.dir={target}", "logger=none", "debug=fast"], tmp_path, timeout=120)
    line = _one_error(result)
    assert str(target) in line and "hydra.run.dir" in line, line


# ---------------------------------------------------------------------------- 11. threads


def test_effective_threads_reports_torch_setting():
    from omegaconf import OmegaConf

    from genbench.runs.reproducibility import determinism, effective_threads

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert effective_threads()["intra_op"] == 1
        info = determinism(OmegaConf.create({"hardware": {"accelerator": "cpu", "devices": 2, "num_nodes": 1,
                                                          "threads": None}}))
        assert info["threads"]["intra_op"] == 1 and info["world_size"] == 2 and info["threads_requested"] is None
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------- 13. a refused sweep re-run


@pytest.mark.slow
def test_refused_sweep_rerun_leaves_the_sweep_untouched(tmp_path):
    base = ["-m", "hydra.sweep.dir=sweep", "debug=fast", "logger=none", "train.max_steps=2", "metrics=[]"]
    first = run_genbench([*base, "seed=0"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    saved = (tmp_path / "sweep" / "multirun.yaml").read_bytes()
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir())
    again = run_genbench([*base, "seed=0,1"], tmp_path)
    line = _one_error(again)
    assert "holds a sweep of other overrides" in line and "seed=0,1" in line
    assert (tmp_path / "sweep" / "multirun.yaml").read_bytes() == saved
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir()) == jobs


# ---------------------------------------------------------------------------- 8. resume keeps the CSV log


@pytest.mark.slow
def test_resume_keeps_the_whole_csv_history(tmp_path):
    common = ["logger=csv", "train.log_every=10", "train.sample_every=1000", "train.checkpoint_every=40",
              "metrics=[]", "hardware.threads=1"]
    first = run_genbench(["hydra.run.dir=run", "train.max_steps=40", *common], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    resumed = run_genbench([f"resume={tmp_path / 'run'}", "train.max_steps=80"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with open(tmp_path / "run" / "csv" / "metrics.csv", newline="") as file:
        rows = [row for row in csv.DictReader(file) if row.get("time/wall_s")]  # the log rows (not evaluations)
    steps = [int(float(row["step"])) for row in rows]
    assert steps == [10, 20, 30, 40, 50, 60, 70, 80], steps
