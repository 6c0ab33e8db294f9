"""Sweeps the cluster way, end to end through the `genbench` executable: hydra-submitit-launcher's local
executor (the code path of hardware=slurm), the time-limit signal with checkpoint and requeue, re-running
an interrupted sweep, and what hardware=slurm asks SLURM for."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import genbench_env, read_json, run_genbench, start_genbench

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the cluster extra: pip install .[cluster]")

# 300 generator steps of the default ring8 GAN, one thread (the same losses in every process), evaluated at 150, 300.
FAST = ["logger=none", "train.max_steps=300", "train.checkpoint_every=50", "train.log_every=50", "eval.every=150",
        "eval.n=500", "hardware.threads=1"]
# Two jobs of the same seed: the one interrupted must end exactly where the other does.
TWINS = "seed=0,0"


def final(run: Path) -> dict:
    """The final evaluation without its timings."""
    return {k: v for k, v in read_json(run / "metrics.json")["final"].items() if not k.startswith("time/")}


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while not path.is_file():
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.1)


def test_submitit_local_sweep_survives_the_time_limit_signal_and_table_reads_it(tmp_path):
    """Two jobs through the submitit local executor. Job 0 gets SIGUSR2, what SLURM sends before the time
    limit: it saves last.ckpt, submitit requeues it, and the requeued job resumes in its own folder to the
    very numbers of its uninterrupted twin (job 1)."""
    proc = start_genbench(["-m", "hardware=local_parallel", TWINS, "hydra.sweep.dir=sweep", *FAST], tmp_path)
    job0 = tmp_path / "sweep" / "0"
    wait_for(job0 / "checkpoints" / "last.ckpt", proc)
    pid = read_json(job0 / "run.json")["owner"]["pid"]
    os.kill(pid, signal.SIGUSR2)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    log = (job0 / "genbench.log").read_text()
    assert "received SIGUSR2" in log and "Requeued job" in log and "resuming from" in log, log[-3000:]
    record = read_json(job0 / "run.json")
    assert record["status"] == "completed" and record["attempts"] == 2 and record["generator_steps"] == 300
    twin = tmp_path / "sweep" / "1"
    assert read_json(twin / "run.json")["attempts"] == 1
    assert final(job0) == final(twin)
    assert list((tmp_path / "sweep" / ".submitit").glob("*/*_0_log.out")), "not run by submitit"
    table = run_genbench(["sweep"], tmp_path, exe="genbench-table")
    assert table.returncode == 0, table.stderr
    assert "2 jobs in sweep" in table.stdout and "| 2 | 2 completed |" in table.stdout, table.stdout


def test_sweep_killed_with_sigterm_resumes_when_the_same_command_runs_again(tmp_path):
    """Hydra's basic launcher: SIGTERM stops the sweep in job 0; the same command again resumes job 0 (to the
    numbers of its uninterrupted twin, job 1) and runs job 1; a third time trains nothing."""
    command = ["-m", TWINS, "hydra.sweep.dir=sweep", *FAST]
    proc = start_genbench(command, tmp_path)
    job0, job1 = tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"
    wait_for(job0 / "checkpoints" / "last.ckpt", proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    stopped = read_json(job0 / "run.json")
    assert stopped["status"] == "interrupted" and 0 < stopped["generator_steps"] < 300, out[-2000:]
    assert not job1.exists()  # the sweep stopped with its first job

    again = run_genbench(command, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    said = again.stdout + again.stderr
    assert f"job {job0}: interrupted at generator step {stopped['generator_steps']}: resuming" in said, said[-3000:]
    for job, attempts in ((job0, 2), (job1, 1)):
        record = read_json(job / "run.json")
        assert (record["status"], record["attempts"], record["generator_steps"]) == ("completed", attempts, 300)
    assert final(job0) == final(job1)
    assert [h["step"] for h in read_json(job0 / "metrics.json")["history"]] == [150, 300]

    third = run_genbench(command, tmp_path)  # everything finished: nothing is trained again
    assert third.returncode == 0, third.stderr[-3000:]
    assert (third.stdout + third.stderr).count(": already completed") == 2
    assert read_json(job0 / "run.json")["attempts"] == 2


def slurm_script(tmp_path: Path, monkeypatch, overrides: list[str]):
    """The composed config of hardware=slurm with `overrides`, and the sbatch script submitit writes for it."""
    pytest.importorskip("submitit")
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")  # submitit's SLURM executor looks for srun on PATH
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from genbench.runs.hparams import register_resolvers

    register_resolvers()  # what the genbench command does first
    GlobalHydra.instance().clear()
    with initialize_config_module("genbench.conf", version_base="1.3"):
        cfg = compose("config", ["hardware=slurm", *overrides], return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    assert launcher["_target_"].endswith("SlurmLauncher")
    OmegaConf.resolve(cfg)
    params = cfg.hydra.launcher
    import submitit

    executor = submitit.AutoExecutor(folder=tmp_path, cluster="slurm", slurm_max_num_timeout=params.max_num_timeout)
    executor.update_parameters(
        timeout_min=params.timeout_min, nodes=params.nodes, tasks_per_node=params.tasks_per_node,
        gpus_per_node=params.gpus_per_node, cpus_per_task=params.cpus_per_task, mem_gb=params.mem_gb,
        slurm_partition=params.partition, slurm_account=params.account, slurm_signal_delay_s=params.signal_delay_s)
    return cfg, executor._executor._make_submission_file_text("python -u -m submitit.core._submit x", "uid")


def test_slurm_hardware_asks_slurm_for_what_the_config_says(tmp_path, monkeypatch):
    """hardware=slurm -> the sbatch script submitit writes: resources from conf/hardware/slurm.yaml and the
    command line, one task per GPU, the time-limit signal, and the requeue budget."""
    from omegaconf import OmegaConf

    cfg, script = slurm_script(tmp_path, monkeypatch, ["hardware.partition=gpu", "hardware.account=proj42",
                                                       "hardware.devices=4", "hardware.time_min=240",
                                                       "hardware.mem_gb=128"])
    params = cfg.hydra.launcher
    assert (params.tasks_per_node, params.gpus_per_node, params.timeout_min) == (4, 4, 240)
    assert (params.max_num_timeout, params.signal_delay_s) == (cfg.hardware.max_requeues, cfg.hardware.signal_delay_s)
    for line in ("--partition=gpu", "--account=proj42", "--ntasks-per-node=4", "--gpus-per-node=4", "--time=240",
                 "--mem=128GB", f"--signal=USR2@{cfg.hardware.signal_delay_s}", "--cpus-per-task=8"):
        assert f"#SBATCH {line}" in script, script
    assert yaml.safe_load(OmegaConf.to_yaml(cfg.hardware))["strategy"] == "auto"


def test_slurm_on_cpu_asks_for_no_gpu(tmp_path, monkeypatch):
    """hardware.accelerator=cpu (a CPU partition): tasks per node = devices, but no --gpus-per-node, which sbatch
    refuses where the partition has no GPU ("Invalid generic resource (gres) specification")."""
    cfg, script = slurm_script(tmp_path, monkeypatch, ["hardware.partition=cpu", "hardware.accelerator=cpu",
                                                       "hardware.devices=2"])
    assert cfg.hydra.launcher.gpus_per_node is None
    assert "#SBATCH --ntasks-per-node=2" in script and "#SBATCH --partition=cpu" in script, script
    assert "gpu" not in script.replace("--partition=cpu", ""), script


@pytest.mark.parametrize(("override", "key"), [
    ("hardware.partition='gpu\n#SBATCH --wrap=\"rm -rf ~\"'", "hardware.partition"),
    ("hardware.account='proj 42'", "hardware.account"),
    ("hardware.qos='high;low'", "hardware.qos"),
    ("+hardware.additional_parameters.constraint='a100\nx'", "hardware.additional_parameters.constraint"),
    ("+hardware.additional_parameters.comment='one\ntwo'", "hardware.additional_parameters.comment"),
    ("hardware.setup=['module load cuda','source a\nsource b']", "hardware.setup[1]"),
])
def test_slurm_fields_that_would_break_the_sbatch_script_fail_before_submitting(tmp_path, override, key):
    """A SLURM value with a line break would end its #SBATCH line and start another (an option, or a shell line):
    the sweep stops before sbatch, with one `genbench: error:` line naming the key (exit code 2)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("sbatch", "srun"):  # recording fakes: nothing may be submitted
        (fake / tool).write_text(f"#!/bin/sh\ntouch {tmp_path}/{tool}-called\nexit 1\n")
        (fake / tool).chmod(0o755)
    env = genbench_env(PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    result = run_genbench(["-m", "hardware=slurm", "hardware.accelerator=cpu", override, "seed=0,1",
                           "hydra.sweep.dir=sweep"], tmp_path, env=env, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"genbench: error: {key}="), result.stderr[-2000:]
    assert "e.g." in lines[0]
    assert not (tmp_path / "sbatch-called").exists() and not (tmp_path / "sweep").exists()


def test_slurm_fields_check_accepts_what_clusters_use():
    from omegaconf import OmegaConf

    from genbench.errors import ConfigError
    from genbench.runs.config_checks import check_scheduler

    good = OmegaConf.create({"hardware": {
        "partition": "gpu,gpu-long", "account": "proj_42", "qos": "normal", "setup": [
            "module load cuda/12.4", "source venv/bin/activate && export OMP_NUM_THREADS=1 # shell is fine"],
        "additional_parameters": {"constraint": "a100|h100&ib", "mail-type": "END,FAIL", "mail-user": "me@lab.org",
                                  "comment": "reg study", "exclusive": True, "gres": "gpu:a100:4",
                                  "exclude": "node[01-04]", "begin": "now+1hour"}}})
    check_scheduler(good)
    bad_key = OmegaConf.create({"hardware": {"additional_parameters": {"mail-type\n#SBATCH --x": "END"}}})
    with pytest.raises(ConfigError, match=r"hardware.additional_parameters has the option 'mail-type\\n"):
        check_scheduler(bad_key)
    with pytest.raises(ConfigError, match="hardware.partition=.*line break"):
        check_scheduler(OmegaConf.create({"hardware": {"partition": "gpu\r"}}))
