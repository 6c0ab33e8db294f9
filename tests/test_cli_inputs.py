"""The command line: help, printed configs, and bad input failing fast with one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import genbench_env, read_json, run_genbench

GROUPS = {
    "model": ["gan", "gan_minimax", "wgan", "wgan_gp", "sngan", "lsgan", "hinge"],
    "loss": ["minimax", "ns", "wasserstein", "hinge", "lsgan"],
    "reg": ["none", "clip", "gp", "gp0", "r1", "r2", "dragan", "sn", "instance_noise"],
    "dataset": ["ring8", "grid25", "circle", "swissroll", "mnist", "fashion_mnist", "cifar10", "folder"],
    "hardware": ["cpu", "gpu", "ddp"],
    "logger": ["wandb", "csv", "none"],
}


def test_help_lists_every_group_and_option(tmp_path):
    result = run_genbench(["--help"], tmp_path)
    assert result.returncode == 0
    lines = {line.split(":")[0]: line for line in result.stdout.splitlines() if ":" in line}
    for group, options in GROUPS.items():
        listed = [o.strip() for o in lines[group].split(":", 1)[1].split(",")]
        assert set(options) <= set(listed), (group, listed)


def test_help_does_not_import_torch(tmp_path):
    """--help must stay fast: the CLI imports torch and Lightning only when a run starts."""
    code = ("import sys; sys.argv = ['genbench', '--help']\n"
            "from genbench.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('torch', 'pytorch_lightning', 'wandb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True).stdout
    assert "HEAVY []" in out, out[-500:]


def test_cfg_job_prints_the_design_card_config(tmp_path):
    result = run_genbench(["--cfg", "job", "model=wgan_gp", "reg=sn"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "genbench.regs.sn.SpectralNorm" in result.stdout
    assert "GradientPenalty" not in result.stdout
    assert "genbench.losses.wasserstein.WassersteinLoss" in result.stdout and "n_critic: 5" in result.stdout


def _one_line_error(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("genbench: error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return errors[0]


@pytest.mark.parametrize("args, expected", [
    (["model.opt_g.lr=-1"], "model.opt_g.lr=-1 must be a positive number"),
    (["model.n_critic=0"], "model.n_critic=0 must be a whole number >= 1"),
    (["train.max_steps=0"], "train.max_steps=0"),
    (["dataset=folder"], "dataset.root has no value"),
    (["hardware.precision=16-mixed"], "needs a GPU"),
])
def test_bad_values_fail_before_training(tmp_path, args, expected):
    result = run_genbench(["hydra.run.dir=run", *args], tmp_path, timeout=60)
    assert expected in _one_line_error(result)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unsupported_image_size(tmp_path, mnist_root):
    result = run_genbench(["hydra.run.dir=run", "dataset=mnist", "dataset.image_size=30"], tmp_path,
                          env=genbench_env(GENBENCH_DATA=str(mnist_root)))
    line = _one_line_error(result)
    assert "dataset.image_size=30" in line and "28, 32 or 64" in line
    assert read_json(tmp_path / "run" / "run.json")["status"] == "failed"


def test_unknown_option_names_the_choices(tmp_path):
    result = run_genbench(["model=gann"], tmp_path, timeout=60)
    assert result.returncode != 0
    assert "model/gann" in result.stderr and "wgan_gp" in result.stderr


def test_missing_data_offline_fails_fast_with_the_fix(tmp_path):
    """No files and no network: a clear message naming the files, the folder and GENBENCH_DATA, not a hang."""
    empty = tmp_path / "data"
    empty.mkdir()
    for download in ("false", "true"):
        result = run_genbench(["hydra.run.dir=run" + download, "dataset=mnist", f"dataset.download={download}"],
                              tmp_path, env=genbench_env(GENBENCH_DATA=str(empty)), timeout=120)
        line = _one_line_error(result)
        assert "train-images-idx3-ubyte.gz" in line and str(empty / "mnist") in line and "GENBENCH_DATA" in line


def test_existing_run_folder_is_not_overwritten(tmp_path):
    assert run_genbench(["hydra.run.dir=run", "debug=fast", "logger=none"], tmp_path).returncode == 0
    before = (tmp_path / "run" / "checkpoints" / "last.ckpt").read_bytes()
    line = _one_line_error(run_genbench(["hydra.run.dir=run", "debug=fast", "logger=none"], tmp_path))
    assert "resume=" in line
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").read_bytes() == before


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    line = _one_line_error(run_genbench([f"resume={tmp_path}"], tmp_path))
    assert "not a genbench run folder" in line
