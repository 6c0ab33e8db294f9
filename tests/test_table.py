"""`genbench-table` on a fake multirun folder: grouping with seeds folded, exact mean ± std, status
counts, which keys count as metrics, CSV output, the error for an empty folder, and the installed script."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from genbench.cli import table

# job -> (overrides, status or None for no run.json, final metrics or None for no metrics.json)
JOBS = {
    "0": (["model=gan", "seed=0"], "completed", {"modes/covered": 6.0, "modes/hq_fraction": 0.5}),
    "1": (["model=gan", "seed=1"], "completed", {"modes/covered": 8.0, "modes/hq_fraction": 0.7}),
    "2": (["model=gan", "seed=2"], "diverged", {"modes/covered": 0.0, "modes/hq_fraction": 0.0}),
    "3": (["model=wgan_gp", "seed=0"], "completed", {"modes/covered": 5.0, "modes/hq_fraction": 0.25}),
    "4": (["model=wgan_gp", "seed=1"], "failed", None),
    "5": (["model=wgan_gp", "seed=2"], "completed", {"modes/covered": 8.0, "modes/hq_fraction": 0.5}),
}


def write_job(root: Path, name: str, overrides: list[str], status: str | None, final: dict | None,
              step: int = 100, elapsed: float = 3.0) -> Path:
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides) or "[]\n")
    if status is not None:
        (job / "run.json").write_text(json.dumps({"status": status}))
    if final is not None:
        metrics = {"final": {"step": step, **final, "time/elapsed_s": elapsed}}
        (job / "metrics.json").write_text(json.dumps(metrics))
    return job


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "multirun" / "2026-01-01" / "12-00-00"
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")  # what Hydra leaves at the top of a sweep
    for name, (overrides, status, final) in JOBS.items():
        write_job(root, name, overrides, status, final)
    return root


def markdown_rows(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """The header cells and {setting: cells} of the Markdown table in `text`."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    split = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return split[0], {cells[0]: cells for cells in split[1:]}


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = table.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------ markdown


def test_markdown_groups_settings_and_folds_seeds(sweep, capsys):
    code, out, err = run_main(capsys, str(sweep))
    assert code == 0 and err == ""
    assert out.startswith(f"6 jobs in {sweep}; final metrics, mean ± std over seeds")
    assert "shared overrides: (none)" in out  # model differs between jobs, nothing else is set
    header, rows = markdown_rows(out)
    assert header == ["setting", "jobs", "status", "modes/covered", "modes/hq_fraction"]
    assert set(rows) == {"model=gan", "model=wgan_gp"}  # seeds folded: two settings, not six
    assert rows["model=gan"][1] == "3" and rows["model=wgan_gp"][1] == "3"


def test_mean_and_std_are_exact(sweep, capsys):
    _, out, _ = run_main(capsys, str(sweep))
    _, rows = markdown_rows(out)
    # gan, completed seeds only: covered 6, 8 -> mean 7, sample std sqrt(((6-7)^2 + (8-7)^2) / 1) = 1.414
    #                             hq 0.5, 0.7 -> mean 0.6, std sqrt(2 * 0.1^2) = 0.1414
    assert rows["model=gan"][3:] == ["7 ± 1.4", "0.6 ± 0.14"]
    # wgan_gp: covered 5, 8 -> 6.5, std sqrt(2 * 1.5^2) = 2.121;  hq 0.25, 0.5 -> 0.375, std sqrt(2 * 0.125^2) = 0.1768
    assert rows["model=wgan_gp"][3:] == ["6.5 ± 2.1", "0.375 ± 0.18"]


def test_status_column_counts_and_excludes_unfinished_jobs(sweep, capsys):
    _, out, _ = run_main(capsys, str(sweep))
    _, rows = markdown_rows(out)
    assert rows["model=gan"][2] == "2 completed, 1 diverged"
    assert rows["model=wgan_gp"][2] == "2 completed, 1 failed"
    # the diverged job's 0.0 is left out: with it the mean would be (6 + 8 + 0) / 3 = 4.667
    assert not rows["model=gan"][3].startswith("4.667")


def test_step_and_time_are_not_metrics(sweep, capsys):
    _, out, _ = run_main(capsys, str(sweep))
    header, _ = markdown_rows(out)
    assert "step" not in header
    assert not [h for h in header if h.startswith("time/")]
    assert "time/elapsed_s" not in out


def test_single_completed_job_shows_the_value_without_std(tmp_path, capsys):
    write_job(tmp_path, "0", ["model=lsgan", "seed=0"], "completed", {"modes/covered": 7.0})
    write_job(tmp_path, "1", ["model=lsgan", "seed=1"], "diverged", {"modes/covered": 1.0})
    write_job(tmp_path, "2", ["model=gan", "seed=0"], "completed", {"modes/covered": 2.0})
    _, out, _ = run_main(capsys, str(tmp_path))
    _, rows = markdown_rows(out)
    assert rows["model=lsgan"][2:] == ["1 completed, 1 diverged", "7"]


def test_group_without_completed_jobs_shows_a_dash(tmp_path, capsys):
    write_job(tmp_path, "0", ["model=gan", "seed=0"], "completed", {"modes/covered": 7.0})
    write_job(tmp_path, "1", ["model=wgan", "seed=0"], "diverged", {"modes/covered": 1.0})
    write_job(tmp_path, "2", ["model=wgan", "seed=1"], None, None)  # never started: no run.json
    _, out, _ = run_main(capsys, str(tmp_path))
    _, rows = markdown_rows(out)
    assert rows["model=wgan"][2:] == ["1 diverged, 1 not started", "–"]


def test_override_order_hydra_keys_and_threads_do_not_split_groups(tmp_path, capsys):
    write_job(tmp_path, "0", ["model=gan", "reg=sn", "loss=hinge", "seed=0"], "completed", {"m": 1.0})
    write_job(tmp_path, "1", ["seed=1", "loss=hinge", "reg=sn", "model=gan", "hydra.launcher.n_jobs=2",
                              "hardware.threads=1", "resume=outputs/x"], "completed", {"m": 3.0})
    write_job(tmp_path, "2", ["model=wgan", "reg=sn", "loss=lsgan", "seed=0"], "completed", {"m": 10.0})
    _, out, _ = run_main(capsys, str(tmp_path))
    _, rows = markdown_rows(out)
    # reg=sn is in every job: listed once as shared; the row label is the sorted overrides that vary.
    # (1 + 3) / 2 = 2, std sqrt(2 * 1^2) = 1.414
    assert "shared overrides: reg=sn" in out
    assert set(rows) == {"loss=hinge model=gan", "loss=lsgan model=wgan"}
    assert rows["loss=hinge model=gan"][1:] == ["2", "2 completed", "2 ± 1.4"]
    assert rows["loss=lsgan model=wgan"][1:] == ["1", "1 completed", "10"]


def test_overrides_shared_by_every_job_are_listed_once(tmp_path, capsys):
    for seed in (0, 1):
        write_job(tmp_path, str(seed), ["dataset=mnist", "model=gan", f"seed={seed}"], "completed", {"m": 1.0 + seed})
    _, out, _ = run_main(capsys, str(tmp_path))
    assert "shared overrides: dataset=mnist model=gan" in out
    _, rows = markdown_rows(out)
    assert len(rows) == 1
    (row,) = rows.values()
    assert row[1:] == ["2", "2 completed", "1.5 ± 0.71"]  # mean 1.5, std sqrt(2 * 0.5^2) = 0.707


def test_non_finite_values_are_left_out_of_the_mean(tmp_path, capsys):
    write_job(tmp_path, "0", ["seed=0"], "completed", {"m": 2.0})
    write_job(tmp_path, "1", ["seed=1"], "completed", {"m": 4.0})
    write_job(tmp_path, "2", ["seed=2"], "completed", {"m": math.nan})
    _, out, _ = run_main(capsys, str(tmp_path))
    _, rows = markdown_rows(out)
    # only seeds differ: one row.  mean(2, 4) = 3, std sqrt(2 * 1^2) = 1.414
    assert len(rows) == 1
    (row,) = rows.values()
    assert row[1:] == ["3", "3 completed", "3 ± 1.4"]


def test_metrics_option_selects_columns(sweep, capsys):
    _, out, _ = run_main(capsys, str(sweep), "--metrics", "modes/hq_fraction")
    header, rows = markdown_rows(out)
    assert header == ["setting", "jobs", "status", "modes/hq_fraction"]
    assert rows["model=gan"][3] == "0.6 ± 0.14"


def test_nested_job_folders_are_found(tmp_path, capsys):
    # the sweep folder itself may hold a .hydra (a single run); only its sub-folders are jobs
    write_job(tmp_path, "a/0", ["seed=0"], "completed", {"m": 1.0})
    write_job(tmp_path, "b/1", ["seed=1"], "completed", {"m": 5.0})
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- seed=9\n")
    code, out, _ = run_main(capsys, str(tmp_path))
    assert code == 0
    assert out.startswith("2 jobs in")
    _, rows = markdown_rows(out)
    assert len(rows) == 1
    (row,) = rows.values()
    assert row[1:] == ["2", "2 completed", "3 ± 2.8"]  # mean 3, std sqrt(2 * 2^2) = 2.83


# ------------------------------------------------------------------------------------------------ csv


def test_csv_output_parses_with_the_right_numbers(sweep, capsys):
    code, out, _ = run_main(capsys, str(sweep), "--csv")
    assert code == 0
    reader = csv.DictReader(io.StringIO(out))
    assert reader.fieldnames == ["setting", "jobs", "status",
                                 "modes/covered_mean", "modes/covered_std", "modes/covered_n",
                                 "modes/hq_fraction_mean", "modes/hq_fraction_std", "modes/hq_fraction_n"]
    rows = {r["setting"]: r for r in reader}
    assert set(rows) == {"model=gan", "model=wgan_gp"}
    gan, wgan = rows["model=gan"], rows["model=wgan_gp"]
    assert gan["jobs"] == "3" and gan["status"] == "2 completed, 1 diverged"
    # full precision in CSV: mean 7, std sqrt 2
    assert float(gan["modes/covered_mean"]) == pytest.approx(7.0, abs=1e-12)
    assert float(gan["modes/covered_std"]) == pytest.approx(math.sqrt(2), abs=1e-12)
    assert int(gan["modes/covered_n"]) == 2
    assert float(gan["modes/hq_fraction_mean"]) == pytest.approx(0.6, abs=1e-12)
    assert float(gan["modes/hq_fraction_std"]) == pytest.approx(0.1 * math.sqrt(2), abs=1e-12)
    assert float(wgan["modes/covered_mean"]) == pytest.approx(6.5, abs=1e-12)
    assert float(wgan["modes/covered_std"]) == pytest.approx(1.5 * math.sqrt(2), abs=1e-12)
    assert float(wgan["modes/hq_fraction_mean"]) == pytest.approx(0.375, abs=1e-12)
    assert wgan["status"] == "2 completed, 1 failed"


def test_csv_empty_cells_for_missing_metrics(tmp_path, capsys):
    write_job(tmp_path, "0", ["model=gan", "seed=0"], "completed", {"m": 2.0})
    write_job(tmp_path, "1", ["model=wgan", "seed=0"], "failed", None)
    _, out, _ = run_main(capsys, str(tmp_path), "--csv")
    rows = {r["setting"]: r for r in csv.DictReader(io.StringIO(out))}
    assert (rows["model=wgan"]["m_mean"], rows["model=wgan"]["m_std"], rows["model=wgan"]["m_n"]) == ("", "", "0")
    # a single value has std 0
    assert (float(rows["model=gan"]["m_mean"]), float(rows["model=gan"]["m_std"])) == (2.0, 0.0)


# ------------------------------------------------------------------------------------------------ errors


def test_empty_folder_is_exit_code_2_with_a_clear_message(tmp_path, capsys):
    code, out, err = run_main(capsys, str(tmp_path))
    assert code == 2
    assert out == ""
    assert "no genbench jobs" in err and str(tmp_path) in err
    assert "overrides.yaml" in err and "multirun" in err


def test_missing_folder_is_exit_code_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, str(tmp_path / "nope"))
    assert code == 2
    assert "is not a folder" in err and "outputs/multirun/<date>/<time>" in err


def default_sweeps_here(root: Path) -> list[Path]:
    """Three sweeps where `genbench -m` puts them (outputs/multirun/<date>/<time>), the newest without jobs."""
    sweeps = [root / "outputs" / "multirun" / day / time for day, time in
              (("2026-11-28", "23-59-59"), ("2026-11-29", "09-00-00"), ("2026-11-29", "10-30-00"))]
    for i, sweep in enumerate(sweeps[:2]):
        write_job(sweep, "0", [f"model={('gan', 'wgan_gp')[i]}", "seed=0"], "completed", {"modes/covered": 8.0})
    sweeps[2].mkdir(parents=True)  # a sweep that is starting: no job folder yet
    return sweeps


def test_without_a_folder_the_newest_sweep_here_is_read(tmp_path, capsys, monkeypatch):
    """`genbench-table` alone, where `genbench -m` ran, with no outputs/last_sweep: the newest sweep folder that
    holds a job (by its date and time name), said on stderr; a mistyped folder's error names it."""
    sweeps = default_sweeps_here(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys)
    assert code == 0, err
    assert "the last sweep here: outputs/multirun/2026-11-29/09-00-00" in err
    assert "1 job in outputs/multirun/2026-11-29/09-00-00" in out and "shared overrides: model=wgan_gp" in out, out
    code, out, err = run_main(capsys, "multirun")
    assert code == 2 and out == ""
    assert err.strip() == ("genbench-table: error: multirun is not a folder: pass the folder of a multirun, e.g. "
                           "outputs/multirun/2026-11-29/09-00-00 (the last sweep here)")
    assert sweeps[0].is_dir()


def test_without_a_folder_the_sweep_named_by_last_sweep_is_read(tmp_path, capsys, monkeypatch):
    """A sweep anywhere (a paper table's outputs/tables/..., a named hydra.sweep.dir) names itself in
    outputs/last_sweep when it starts: `genbench-table` alone reads it, not an older folder under multirun/; once
    it is gone, the newest one there again."""
    from genbench.cli import sweeps

    default_sweeps_here(tmp_path)
    table_sweep = tmp_path / "outputs" / "tables" / "mimicry2019" / "cifar10-smoke"
    write_job(table_sweep, "0", ["experiment=mimicry2019/dcgan", "seed=0"], "completed", {"fid": 80.0})
    monkeypatch.chdir(tmp_path)
    sweeps.remember(Path("outputs/tables/mimicry2019/cifar10-smoke"))
    assert (tmp_path / "outputs" / "last_sweep").read_text() == "outputs/tables/mimicry2019/cifar10-smoke\n"
    code, out, err = run_main(capsys)
    assert code == 0, err
    assert "the last sweep here: outputs/tables/mimicry2019/cifar10-smoke" in err
    assert "experiment=mimicry2019/dcgan" in out, out
    shutil.rmtree(table_sweep)
    code, out, err = run_main(capsys)
    assert code == 0 and "the last sweep here: outputs/multirun/2026-11-29/09-00-00" in err, err


def test_without_a_folder_and_no_sweep_here_the_error_says_what_to_pass(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys)
    assert code == 2 and out == ""
    assert err.strip() == ("genbench-table: error: no sweep folder given, and no sweep with jobs is named by "
                           "outputs/last_sweep or matches outputs/multirun/*/* here: pass the folder of a multirun, "
                           "e.g. outputs/multirun/<date>/<time>")


# --------------------------------------------------------------------------------------- console script


def test_console_script_is_installed(sweep, tmp_path):
    exe = shutil.which("genbench-table")
    assert exe is not None, "genbench-table is not on PATH: run pip install -e ."
    result = subprocess.run([exe, str(sweep)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    _, rows = markdown_rows(result.stdout)
    assert rows["model=gan"][3] == "7 ± 1.4"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run([exe, str(empty)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no genbench jobs" in result.stderr


def test_vae_sweep_gets_the_rate_distortion_plot(tmp_path, capsys):
    """Any sweep with final elbo/rate and elbo/distortion (a paper table or not) gets <sweep>/rate_distortion.png."""
    for name, beta, rate, distortion in (("0", 1, 20.0, 80.0), ("1", 4, 5.0, 110.0)):
        final = {"elbo/rate": rate, "elbo/distortion": distortion}
        write_job(tmp_path, name, [f"model.beta={beta}"], "completed", final)
    _, out, _ = run_main(capsys, str(tmp_path))
    _, rows = markdown_rows(out)
    assert set(rows) == {"model.beta=1", "model.beta=4"}
    assert (tmp_path / "rate_distortion.png").is_file() and "rate-distortion" in out


def test_a_failed_jobs_number_travels_with_its_error_to_the_sweeps_process(monkeypatch):
    """SLURM and local_parallel hand a job's error back pickled: the number job_failed put on it survives, and
    the sweep's error line names that job first."""
    import pickle

    from genbench.cli import sweeps
    from genbench.errors import ConfigError

    monkeypatch.setattr(sweeps, "_failed", set())  # this process's record stays as it was
    error = ConfigError("model.opt_d.lr=-1 must be a positive number")
    sweeps.job_failed(error, 3)
    back = pickle.loads(pickle.dumps(error))
    assert back.sweep_job == "3" and str(back) == str(error)
    jobs = [{"job": "1", "status": "failed"}, {"job": "2", "status": "completed"}, {"job": "3", "status": "failed"}]
    assert sweeps.failed_jobs_line(jobs, str(back), back.sweep_job) == (
        "jobs 3, 1 of the sweep failed (each job's error is in its genbench.log); job 3: "
        "model.opt_d.lr=-1 must be a positive number")
    assert sweeps.failed_jobs_line(jobs[1:2], "why", None) == "why"
