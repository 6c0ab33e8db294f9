"""hardware=slurm against a real SLURM scheduler: the one-node cluster of scripts/slurm_local.sh (CI starts it;
`sudo bash scripts/slurm_local.sh start` here). Every test skips, saying why, when no such cluster answers.

The jobs are small (ring8 GAN, one thread, 1 CPU, 1 GB, 20 to 200 generator steps). Interrupting a job at a
known point: the test stops the training process (SIGSTOP) once it wrote its first checkpoint, does what a
scheduler or a user would (a time-limit signal, `scontrol requeue`, `scancel --signal=USR2`, a second sweep),
then lets it go on (SIGCONT). What happens next is SLURM's, submitit's and genbench's own doing."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import read_json, run_genbench, start_genbench

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the cluster extra: pip install .[cluster]")

START = "sudo bash scripts/slurm_local.sh start"


def _not_up() -> str | None:
    """Why the tests cannot run here, or None when the local test cluster answers."""
    if not shutil.which("sinfo"):
        return f"no SLURM here (sinfo not on PATH): {START}"
    try:
        info = subprocess.run(["sinfo", "-h", "-o", "%a %t"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return f"sinfo does not answer within 15 s: {START}"
    if info.returncode != 0:
        return f"sinfo does not answer ({info.stderr.strip()[:200]}): {START}"
    if not re.search(r"^up (idle|mix|alloc)", info.stdout, re.M):
        return f"no SLURM node up (sinfo: {info.stdout.strip()[:200]!r}): {START}"
    name = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=15).stdout
    if not re.search(r"^ClusterName\s*=\s*genbench$", name, re.M) and not os.environ.get("GENBENCH_SLURM_TESTS"):
        return ("SLURM answers but is not scripts/slurm_local.sh's cluster: these tests requeue jobs and change time "
                "limits; set GENBENCH_SLURM_TESTS=1 to run them on this one anyway")
    return None


REASON = _not_up()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

# One CPU, one thread, no GPU asked for (a CPU partition).
SLURM = ["hardware=slurm", "hardware.accelerator=cpu", "hardware.devices=1", "hardware.cpus_per_task=1",
         "hardware.mem_gb=1", "hardware.threads=1", "logger=none"]
# 200 generator steps, a checkpoint every 10: the tests pause a job at its first one.
SHORT = ["train.max_steps=200", "train.checkpoint_every=10", "train.log_every=50", "eval.every=100",
         "eval.n=256"]
USR2_BIT = 1 << (signal.SIGUSR2 - 1)


LAUNCHED: list = []


def genbench(args: list[str], cwd: Path):
    proc = start_genbench(args, cwd)
    LAUNCHED.append(proc)
    return proc


def wait_until(ok, what: str, proc: subprocess.Popen | None = None, timeout: float = 120):
    deadline = time.time() + timeout
    while True:
        value = ok()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep ended before {what}:\n{proc.communicate()[0][-3000:]}")
        if time.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def pause_at_first_checkpoint(run: Path, proc: subprocess.Popen) -> tuple[int, str]:
    """Stop a job's training process once it saved last.ckpt: (its pid, its SLURM job id)."""
    wait_until(lambda: (run / "checkpoints" / "last.ckpt").is_file(), f"{run} saved a checkpoint", proc)
    owner = read_json(run / "run.json")["owner"]
    os.kill(owner["pid"], signal.SIGSTOP)
    assert owner["slurm_job_id"], owner
    return owner["pid"], str(owner["slurm_job_id"])


def got_usr2(pid: int, run: Path) -> bool:
    """SIGUSR2 reached the paused process: pending there, or already handled (SLURM sends SIGCONT with it)."""
    if "received SIGUSR2" in (run / "genbench.log").read_text():
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True  # gone: handled it and exited
    masks = (int(re.search(rf"{name}:\s*(\w+)", status)[1], 16) for name in ("ShdPnd", "SigPnd"))
    return any(mask & USR2_BIT for mask in masks)


def cont(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


def task(job_id: str) -> str:
    """The id SLURM's commands take for one array task, e.g. 21_1. The raw SLURM_JOB_ID of an array's last task
    is the array's own id: `scancel 21` would signal every task of the array."""
    lines = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%A %i"], capture_output=True, text=True,
                           timeout=30).stdout.split("\n")
    return next(line.split()[1] for line in lines if line.split()[:1] == [job_id])


def finish(proc: subprocess.Popen, timeout: float = 180) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def submitit_logs(sweep: Path, job: int = 0, rank: int = 0) -> str:
    """What submitit's log files hold for one job of a sweep (an array task's folder: <array id>_<job>)."""
    folders = [p for p in sweep.glob(".submitit/*_*") if p.name.endswith(f"_{job}")]
    if not folders and job == 0:  # an array of one job: <array id>
        folders = [p for p in sweep.glob(".submitit/*") if p.name.isdigit()]
    return "".join(p.read_text() for folder in folders for p in sorted(folder.glob(f"*_{rank}_log.*")))


@pytest.fixture(autouse=True)
def cancel_leftovers(tmp_path):
    """A failed test leaves no job behind on the 2-CPU node (the sweeps' array ids are their .submitit folders),
    nor a sweep command waiting for a cancelled job (without accounting it would wait forever)."""
    yield
    while LAUNCHED:
        proc = LAUNCHED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    ids = {p.name for p in tmp_path.glob("**/.submitit/*") if p.is_dir() and p.name.isdigit()}
    if ids:
        subprocess.run(["scancel", *sorted(ids)], capture_output=True, timeout=30)


def test_without_accounting_a_failed_job_is_reported(tmp_path):
    """sacct's fallback for a job that fails inside Python (here a config error raised in the job): submitit
    writes the error as the job's result, so the sweep fails at once with it instead of waiting."""
    result = run_genbench(["-m", *SLURM, "debug=fast", "model.opt_d.lr=-1", "hydra.sweep.dir=sweep"], tmp_path,
                          timeout=180)
    said = result.stdout + result.stderr
    assert result.returncode == 2, said[-3000:]
    assert "sweep done: 1 job in sweep (1 failed)" in said, said[-3000:]
    assert result.stderr.strip().splitlines()[-1].startswith(  # the job's number came back with its error
        "genbench: error: job 0 of the sweep failed: model.opt_d.lr=-1 must be a positive number"), said[-3000:]


def test_without_accounting_a_job_slurm_killed_stays_unknown(tmp_path):
    """The limit of sacct's fallback, recorded: a job killed from outside (scancel, out of memory, a node lost)
    writes no result file, and without accounting storage submitit sees its state as UNKNOWN, which it counts as
    unfinished: the sweep command would wait for it forever (stop it with Ctrl-C and run it again: docs/clusters.md)."""
    import submitit

    if subprocess.run(["sacct", "-n"], capture_output=True).returncode == 0:
        pytest.skip("this cluster has accounting storage: sacct reports a cancelled job as CANCELLED")
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(timeout_min=5, cpus_per_task=1, mem_gb=0.1)
    job = executor.submit(time.sleep, 120)
    try:
        wait_until(lambda: "RUNNING" in subprocess.run(["squeue", "-h", "-j", job.job_id, "-o", "%T"],
                                                       capture_output=True, text=True).stdout, "running")
    finally:
        subprocess.run(["scancel", job.job_id], check=True, timeout=30)
    wait_until(lambda: not subprocess.run(["squeue", "-h", "-j", job.job_id], capture_output=True,
                                          text=True).stdout.strip(), "the job left the queue", timeout=30)
    assert not job.done(force_check=True) and job.state == "UNKNOWN"


def test_time_limit_signal_saves_requeues_and_resumes(tmp_path):
    """--signal=USR2@15 with --time=1: SLURM's own warning (it checks time limits every 30 s, so it arrives 15 to
    45 s after the start; the job waits for it paused, and SLURM sends SIGCONT with it). genbench saves last.ckpt
    at the end of the batch, submitit requeues the job (timed out: one of hardware.max_requeues), it resumes."""
    proc = genbench(["-m", *SLURM, *SHORT, "hardware.time_min=1", "hardware.signal_delay_s=15", "seed=0",
                     "hydra.sweep.dir=sweep"], tmp_path)
    run = tmp_path / "sweep" / "0"
    pid, job_id = pause_at_first_checkpoint(run, proc)
    try:
        wait_until(lambda: got_usr2(pid, run), "SLURM's time-limit signal", proc, timeout=75)
    finally:
        cont(pid)
    wait_until(lambda: read_json(run / "run.json")["attempts"] == 2 or read_json(run / "run.json")["status"]
               == "interrupted", "the job saved and stopped", proc)
    # the resumed attempt needs ~15 s: more time, so that it is not warned again before it ends
    subprocess.run(["scontrol", "update", f"JobId={task(job_id)}", "TimeLimit=5"], capture_output=True, timeout=30)
    finish(proc)
    log = (run / "genbench.log").read_text()
    assert "received SIGUSR2" in log and "resuming from" in log, log[-3000:]
    assert "this job is timed-out" in submitit_logs(tmp_path / "sweep") and "Requeued job" in log
    record = read_json(run / "run.json")
    assert (record["status"], record["attempts"], record["generator_steps"]) == ("completed", 2, 200)
    assert record["owner"]["slurm_job_id"] == job_id  # requeued: the same SLURM job


@pytest.fixture(scope="module")
def interrupted_twins(tmp_path_factory):
    """A sweep of two jobs of the same seed (one sbatch array). At their first checkpoint, job 0 is requeued with
    `scontrol requeue` (what an admin, or SLURM's PreemptMode=REQUEUE, does: SIGTERM, then back to the queue), job 1
    gets `scancel --signal=USR2` (the signal submitit preempts on)."""
    tmp = tmp_path_factory.mktemp("twins")
    proc = genbench(["-m", *SLURM, *SHORT, "seed=0,0", "hydra.sweep.dir=sweep"], tmp)
    sweep = tmp / "sweep"
    try:
        pid0, id0 = pause_at_first_checkpoint(sweep / "0", proc)
        pid1, id1 = pause_at_first_checkpoint(sweep / "1", proc)
        subprocess.run(["scontrol", "requeue", task(id0)], check=True, capture_output=True, timeout=30)
        subprocess.run(["scancel", "--signal=USR2", task(id1)], check=True, capture_output=True, timeout=30)
        wait_until(lambda: got_usr2(pid1, sweep / "1"), "USR2 reached job 1", proc, timeout=30)
        cont(pid0)
        cont(pid1)
        out = finish(proc, timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
        ids = {p.name for p in sweep.glob(".submitit/*") if p.is_dir() and p.name.isdigit()}
        subprocess.run(["scancel", *sorted(ids)], capture_output=True, timeout=30)
    return sweep, (id0, id1), out


def final(run: Path) -> dict:
    return {k: v for k, v in read_json(run / "metrics.json")["final"].items() if not k.startswith("time/")}


def test_array_sweep_of_two_cpu_jobs_completes(interrupted_twins):
    """`genbench -m hardware=slurm hardware.accelerator=cpu ... seed=0,0`: one sbatch array of two jobs, no GPU
    asked for, both completed. No accounting storage here, so sacct fails on every poll: submitit says so and goes
    on, and the sweep still ends on the right result (each job's result file decides, not sacct)."""
    sweep, ids, out = interrupted_twins
    script = next(sweep.glob(".submitit/*/*_submission.sh")).read_text()
    assert "#SBATCH --array=0-1%2" in script and "gpu" not in script and "#SBATCH --cpus-per-task=1" in script
    assert [read_json(sweep / job / "run.json")["status"] for job in ("0", "1")] == ["completed"] * 2
    assert len(set(ids)) == 2  # two array tasks, each its own SLURM job
    sacct = subprocess.run(["sacct", "-n", "-j", ids[0]], capture_output=True, text=True)
    if sacct.returncode != 0:  # the local cluster: "Slurm accounting storage is disabled"
        assert "Bypassing sacct error" in out
    table = run_genbench(["sweep"], sweep.parent, exe="genbench-table")
    assert "| 2 | 2 completed |" in table.stdout, table.stdout + table.stderr


def test_scontrol_requeue_saves_and_resumes(interrupted_twins):
    sweep, (id0, _), _ = interrupted_twins
    run = sweep / "0"
    log = (run / "genbench.log").read_text()
    assert "interrupted at generator step" in log and "resuming from" in log, log[-3000:]
    record = read_json(run / "run.json")
    assert (record["status"], record["attempts"], record["generator_steps"]) == ("completed", 2, 200)
    assert record["owner"]["slurm_job_id"] == id0
    assert final(run) == final(sweep / "1")  # both interrupted at some step, both end where an uninterrupted run does


def test_preemption_signal_saves_requeues_and_resumes(interrupted_twins):
    sweep, (_, id1), _ = interrupted_twins
    run = sweep / "1"
    log = (run / "genbench.log").read_text()
    assert "received SIGUSR2" in log and "Requeued job" in log and "resuming from" in log, log[-3000:]
    assert "this job is preempted" in submitit_logs(sweep, 1)  # a preemption: no requeue of the budget used
    record = read_json(run / "run.json")
    assert (record["status"], record["attempts"], record["generator_steps"]) == ("completed", 2, 200)
    assert record["owner"]["slurm_job_id"] == id1


def test_rerun_while_the_job_is_in_squeue_does_not_start_a_second_copy(tmp_path):
    """The same sweep command again while its job runs: the new job finds the folder's lock held by the live
    job and leaves it alone. squeue's answer (the fallback where a file system has no locks) is checked
    directly: alive while queued or running, not after."""
    from genbench.runs.sweep_job import _slurm_job_alive

    command = ["-m", *SLURM, *SHORT, "seed=0", "hydra.sweep.dir=sweep"]
    first = genbench(command, tmp_path)
    run = tmp_path / "sweep" / "0"
    pid, job_id = pause_at_first_checkpoint(run, first)
    try:
        assert _slurm_job_alive(job_id) is True
        second = run_genbench(command, tmp_path, timeout=180)  # its job runs on the other CPU
        assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
        assert f"pid {pid} holds the folder" in (run / "genbench.log").read_text()
        record = read_json(run / "run.json")
        assert (record["status"], record["attempts"], record["owner"]["pid"]) == ("running", 1, pid)
    finally:
        cont(pid)
    finish(first)
    record = read_json(run / "run.json")
    assert (record["status"], record["attempts"], record["generator_steps"]) == ("completed", 1, 200)
    wait_until(lambda: _slurm_job_alive(job_id) is False, "squeue no longer lists the job", timeout=30)  # COMPLETING
    assert _slurm_job_alive("999999999") is False  # "Invalid job id"


def running_tasks(array_id: str) -> dict[str, str]:
    """{array task id (21_0): its own job id} of the array's running tasks."""
    out = subprocess.run(["squeue", "-h", "-j", array_id, "-t", "running", "-o", "%i %A"], capture_output=True,
                         text=True, timeout=30).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def test_squeue_tells_one_array_task_from_its_array():
    """The last task of an array has the array's id as its SLURM_JOB_ID, and `squeue -j <that id>` lists the whole
    array: a re-run must not take that task for alive because another task of its sweep still runs."""
    from genbench.runs.sweep_job import _slurm_job_alive

    array = subprocess.run(["sbatch", "--parsable", "--array=0-1", "-c1", "--mem=64M", "-o", "/dev/null",
                            "--wrap=sleep 60"], capture_output=True, text=True, timeout=30)
    assert array.returncode == 0, array.stderr
    array_id = array.stdout.strip().split(";")[0]
    try:
        ids = wait_until(lambda: running_tasks(array_id) if len(running_tasks(array_id)) == 2 else None,
                         "both tasks running", timeout=60)
        last = ids[f"{array_id}_1"]
        assert last == array_id  # the last task carries the array's id
        subprocess.run(["scancel", f"{array_id}_1"], check=True, timeout=30)
        wait_until(lambda: _slurm_job_alive(last) is False, "task 1 gone while task 0 runs", timeout=30)
        assert _slurm_job_alive(ids[f"{array_id}_0"]) is True
    finally:
        subprocess.run(["scancel", array_id], capture_output=True, timeout=30)


def test_two_ddp_ranks_started_by_srun(tmp_path):
    """hardware.devices=2 on CPU: 2 tasks on the node, each a rank that SLURM's srun started (Lightning's
    SLURMEnvironment), DDP over gloo; rank 0 keeps the record."""
    result = run_genbench(["-m", *SLURM, "hardware.devices=2", "hardware.strategy=ddp", "hardware.mem_gb=2",
                           "debug=fast", "seed=0", "hydra.sweep.dir=sweep"], tmp_path, timeout=240)
    sweep = tmp_path / "sweep"
    said = result.stdout + result.stderr + submitit_logs(sweep, 0) + submitit_logs(sweep, 1)
    assert result.returncode == 0, said[-5000:]
    assert "#SBATCH --ntasks-per-node=2" in next(sweep.glob(".submitit/*/*_submission.sh")).read_text()
    record = read_json(sweep / "0" / "run.json")
    assert (record["status"], record["generator_steps"]) == ("completed", 20), said[-3000:]
    assert record["world_size"] == 2 and record["owner"]["slurm_job_id"], record
