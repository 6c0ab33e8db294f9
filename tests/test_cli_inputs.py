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
    # internal parts (experiment/lucas2018/_cifar10.yaml, included by the table's rows) are not choices
    assert "table" in lines["experiment/lucas2018"] and "_cifar10" not in lines["experiment/lucas2018"]
    internal = [o for line in lines.values() for o in line.split(":", 1)[1].replace(",", " ").split()
                if o.startswith("_")]
    assert not internal, internal


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
    (["dataset=grid25", "+dataset.crop=20"], "dataset.crop is not a setting of dataset=grid25 (Grid25)"),
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


@pytest.mark.parametrize("args, suggestion", [
    (["train.max_step=5"], "did you mean train.max_steps=5?"),
    (["+train.max_step=5"], "did you mean train.max_steps=5?"),  # Hydra would add the key and run without it
    (["+modle=gan"], "did you mean model=gan?"),
    (["model=wgan_gpp"], "did you mean model=wgan_gp?"),
    (["model=gann"], "did you mean model=gan?"),
    (["reg=[gp,snn]"], "did you mean reg=[gp,sn]?"),
    (["experiment=miyato2018/snn"], "did you mean experiment=miyato2018/sn?"),
    (["eval.nn=10"], "did you mean eval.n=10?"),
    # a sweep: Hydra writes <sweep dir>/multirun.yaml before it composes the jobs; the typo must fail first
    (["-m", "train.max_step=5,10"], "did you mean train.max_steps=5,10?"),
    (["-m", "model=gan,wgan_gpp", "seed=0,1"], "did you mean model=gan,wgan_gp?"),
    (["-m", "reg=none,[gp,snn]"], "did you mean reg=none,[gp,sn]?"),
    (["--multirun", "+train.max_step=5,10"], "did you mean train.max_steps=5,10?"),
])
def test_a_typo_is_one_line_with_the_closest_option_and_writes_nothing(tmp_path, args, suggestion):
    result = run_genbench(args, tmp_path, timeout=120)  # Hydra's default output folder: outputs/ in the cwd
    line = _one_line_error(result)
    assert suggestion in line, line
    assert "+" not in line.split("did you mean", 1)[1]  # never Hydra's `+key`: genbench would not read it
    assert len(line) < 400, line  # the closest options, not every option
    assert list(tmp_path.iterdir()) == [], "a typo wrote " + ", ".join(str(p) for p in tmp_path.rglob("*"))


def test_an_option_with_nothing_close_lists_the_group(tmp_path):
    line = _one_line_error(run_genbench(["dataset=xyz"], tmp_path, timeout=120))
    assert "dataset/xyz" in line and "ring8" in line and "mnist" in line and "did you mean" not in line
    assert list(tmp_path.iterdir()) == []


def test_adding_an_open_setting_is_not_a_typo(tmp_path):
    """`+key` stays Hydra's way to fill in open settings (a SLURM option); only a near-miss of a key is refused."""
    result = run_genbench(["--cfg", "job", "+hardware.additional_parameters.constraint=a100",
                           "+model.opt_g.weight_decay=0.1"], tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "constraint: a100" in result.stdout and "weight_decay: 0.1" in result.stdout


@pytest.mark.parametrize("overrides", [
    ["model=gan,wgan_gp", "reg=none,[gp,sn]", "seed=0,1"],
    ["model=glob(wgan*)"],
    ["model.opt_g.lr=interval(0.0001,0.001)"],  # an Optuna search's range: the sweeper draws the values
    ["experiment=miyato2018/sn,miyato2018/sn_resnet"],
])
def test_a_correct_sweep_passes_the_check(overrides):
    from genbench.cli.sweep_check import check_sweep
    from genbench.runs.hparams import register_resolvers

    register_resolvers()
    check_sweep(overrides)  # raises Hydra's error on a typo


def test_hydra_flags_that_exclude_each_other_are_one_line(tmp_path):
    line = _one_line_error(run_genbench(["-m", "--cfg", "job", "model=gan"], tmp_path, timeout=120))
    assert "Only one of --run, --multirun, --cfg" in line


@pytest.mark.parametrize("args, suggestion", [
    (["--real-vs-real", "eval.nn=10"], "did you mean eval.n=10?"),
    (["eval.nn=10", "--real-vs-real"], "did you mean eval.n=10?"),
    (["metrics=[fidd]"], "did you mean metrics=[fid]?"),
    (["+train.log_evry=10"], "did you mean train.log_every=10?"),
])
def test_eval_typo_is_one_line_with_the_closest_key(tmp_path, args, suggestion):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- debug=fast\n- logger=none\n")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")  # never read: the overrides fail first
    result = run_genbench([str(run), *args], tmp_path, timeout=120, exe="genbench-eval")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("genbench-eval: error:")]
    assert len(errors) == 1 and suggestion in errors[0], result.stderr[-2000:]
    assert not (run / "eval.json").exists()


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
