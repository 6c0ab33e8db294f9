"""Paper tables: every experiment config composes (also with budget=smoke), every row records its published
source, the smoke variant of every table runs through the `genbench` executable, and `genbench-table` prints
published value, our mean ± std over seeds and the difference (exact numbers checked on a fake sweep)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, genbench_env, run_genbench

from genbench.cli import paper_table, table

EXPERIMENTS = sorted(str(p.relative_to(REPO / "conf" / "experiment"))[:-5]
                     for p in (REPO / "conf" / "experiment").rglob("*.yaml"))
PAPERS = ("mimicry2019", "miyato2018", "khrulkov2018", "lucas2018")
ROWS = [e for e in EXPERIMENTS if e.startswith(PAPERS) and not e.endswith("/table") and "/_" not in e]


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module("genbench.conf", version_base="1.3"):
        return hydra_compose("config", overrides, return_hydra_config=True)


def test_every_experiment_config_composes_also_with_the_smoke_budget():
    from genbench.runs.config_checks import check_config

    assert len(ROWS) >= 10
    for name in EXPERIMENTS:
        for extra in ([], ["budget=smoke"]):
            cfg = compose([f"experiment={name}", *extra])
            task = {k: v for k, v in cfg.items() if k != "hydra"}
            check_config(type(cfg)(task))
            if extra:
                assert cfg.train.max_steps <= 10 and cfg.eval.n <= 128, name


def test_every_row_records_its_published_source_and_the_table_sweeps_every_row():
    for paper in PAPERS:
        rows = [r for r in ROWS if r.startswith(paper + "/")]
        cfg = compose([f"experiment={paper}/table"])
        swept = cfg.hydra.sweeper.params[f"experiment/{paper}@_global_"].split(",")
        assert sorted(f"{paper}/{r}" for r in swept) == sorted(rows)
        assert cfg.hydra.sweep.dir == f"outputs/tables/{paper}/{cfg.dataset.name}-full"  # named: re-runs resume
        for row in rows:
            cfg = compose([f"experiment={row}"])
            published = cfg.published
            assert cfg.study.name == paper and cfg.study.row and published.source, row
            assert published.metrics or published.finding, row
            for key, value in (published.metrics or {}).items():
                assert "/" in key and (value is None or value > 0), (row, key)


def test_smoke_variants_of_every_table_run_and_genbench_table_prints_them(tmp_path):
    """All rows of the three tables, smoke budget, on the CIFAR-10 stand-in (CIFAR-10 files are absent here)."""
    result = run_genbench(["-m", f"experiment={','.join(ROWS)}", "budget=smoke", "dataset=cifar10_standin",
                           "train.max_steps=4", "eval.every=4", "hardware.threads=1", "hydra.sweep.dir=smoke",
                           "eval.cache_dir=cache"], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = [table.read_job(j) for j in table.find_jobs(tmp_path / "smoke")]
    assert len(jobs) == len(ROWS) and all(j["status"] == "completed" for j in jobs)
    for job in jobs:  # every metric the row's paper reports was computed
        assert set(job["published"]["metrics"]) <= set(job["final"]), job["study"]["row"]
    out = subprocess.run(["genbench-table", "smoke"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "miyato2018: SN-GANs (ResNet, hinge) *" in out.stdout and "| 8.22 ± 0.05 |" in out.stdout
    assert "mimicry2019: SNGAN *" in out.stdout and "16.77 ± 0.04" in out.stdout
    assert "a synthetic stand-in, not the paper's data" in out.stdout and "features: classifier" in out.stdout


# ------------------------------------------------------------------------------ numbers, on a fake sweep


def fake_job(root: Path, name: str, row: str, seed: int, status: str, final: dict, published: dict,
             protocol: dict | None = None) -> None:
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(f"- experiment=p/{row}\n- seed={seed}\n")
    config = {"study": {"name": "p", "row": row, "order": {"A": 1, "B": 2}[row]}, "published": published}
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (job / "run.json").write_text(json.dumps({"status": status}))
    (job / "metrics.json").write_text(json.dumps({"final": final, "protocol": protocol or {"dataset": "cifar10",
                                                  "feature_extractor": "inception", "n_samples": 50000}}))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    a = {"source": "Paper, Table 1", "n_samples": 50000, "metrics": {"fid/value": 20.0, "is/mean": 8.0},
         "std": {"fid/value": 0.5}}
    b = {"source": "Paper, Table 1", "metrics": {"fid/value": 30.0}, "finding": "B is worse", "checked": False}
    fake_job(tmp_path, "0", "A", 0, "completed", {"fid/value": 21.0, "is/mean": 7.0}, a)
    fake_job(tmp_path, "1", "A", 1, "completed", {"fid/value": 23.0, "is/mean": 7.5}, a)
    fake_job(tmp_path, "2", "A", 2, "diverged", {"fid/value": 99.0, "is/mean": 1.0}, a)
    fake_job(tmp_path, "3", "B", 0, "completed", {"fid/value": 28.0}, b,
             {"dataset": "cifar10_standin", "feature_extractor": "classifier", "n_samples": 128})
    return tmp_path


def test_published_ours_and_difference_are_exact(sweep, capsys):
    assert table.main([str(sweep)]) == 0
    out = capsys.readouterr().out
    lines = {line.split(" | ")[0].strip("| "): [c.strip() for c in line.strip("|").split(" | ")]
             for line in out.splitlines() if line.startswith("| ") and "---" not in line}
    # A: completed seeds only: fid 21, 23 -> mean 22, std sqrt(2) = 1.414, diff 22 - 20 = +2;
    #    is 7, 7.5 -> 7.25, std 0.3536, diff -0.75. The diverged seed's 99 is left out.
    assert lines["A"] == ["A", "3", "2 completed, 1 diverged", "20 ± 0.5", "22 ± 1.4 (n=2)", "+2", "8",
                          "7.25 ± 0.35 (n=2)", "-0.75"]
    # B: one seed, no published IS; stand-in data, classifier features, fewer samples and unchecked values flagged
    assert lines["B *"] == ["B *", "1", "1 completed", "30", "28 (n=1)", "-2", "–", "–", "–"]
    assert "finding: B is worse" in out and "published values not re-checked" in out
    assert "cifar10_standin (a synthetic stand-in" in out and "features: classifier" in out
    assert "samples: 128" not in out  # B states no n_samples; A's 50000 matches ours


def test_csv_has_one_line_per_row_and_metric(sweep, capsys):
    assert table.main([str(sweep), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    cell = {(r["row"], r["metric"]): r for r in rows}
    assert set(cell) == {("A", "fid/value"), ("A", "is/mean"), ("B", "fid/value"), ("B", "is/mean")}
    assert float(cell["A", "fid/value"]["ours_mean"]) == 22.0 and float(cell["A", "fid/value"]["difference"]) == 2.0
    assert cell["B", "is/mean"]["paper"] == "" and cell["B", "is/mean"]["ours_n"] == "0"


def test_dirac_and_plain_sweeps_are_not_paper_tables():
    dirac = [{"study": {"method": "R1", "scheme": "alternating"}, "published": {"converges": True}}]
    plain = [{"study": None, "published": None}]
    assert not paper_table.is_paper_table(dirac) and not paper_table.is_paper_table(plain)


def test_a_swept_row_gets_one_line_per_setting_and_its_notes_once(tmp_path, capsys):
    """alemi2018/beta_sweep: one paper row swept over model.beta -> one line per beta (sweep order, seeds folded),
    the source and finding printed once; null published values print "–" and no caveat when not `checked: false`."""
    published = {"source": "Alemi et al. 2018", "metrics": {"elbo/rate": None}, "finding": "R falls as beta grows"}
    for name, (beta, seed, rate) in enumerate([(8, 0, 1.0), (8, 1, 3.0), (0.5, 0, 40.0)]):
        job = tmp_path / str(name)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- experiment=alemi2018/beta_sweep\n- model.beta={beta}\n"
                                                       f"- seed={seed}\n")
        config = {"study": {"name": "alemi2018", "row": "beta-VAE", "order": 1}, "published": published}
        (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        (job / "run.json").write_text(json.dumps({"status": "completed"}))
        (job / "metrics.json").write_text(json.dumps({"final": {"elbo/rate": rate, "elbo/distortion": 100 - rate},
                                                      "protocol": {"dataset": "mnist"}}))
    assert table.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| beta-VAE")]
    assert lines == ["| beta-VAE, model.beta=8 | 2 | 2 completed | – | 2 ± 1.4 (n=2) | – |",
                     "| beta-VAE, model.beta=0.5 | 1 | 1 completed | – | 40 (n=1) | – |"]
    assert out.count("finding: R falls as beta grows") == 1 and "not comparable" not in out
    assert (tmp_path / "rate_distortion.png").is_file()


def test_unrecorded_published_numbers_are_flagged_as_such(sweep, capsys):
    b = {"source": "Paper, Table 1", "metrics": {"fid/value": None}, "checked": False}
    (sweep / "3" / ".hydra" / "config.yaml").write_text(yaml.safe_dump(
        {"study": {"name": "p", "row": "B", "order": 2}, "published": b}))
    assert table.main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "no published number recorded: fill in published.metrics from the source" in out


def test_vae_tables_smoke_run_and_print(tmp_path, mnist_root):
    """pythae2022/table (VAE, IWAE) and alemi2018/beta_sweep (two betas) under budget=smoke, then genbench-table."""
    env = genbench_env(GENBENCH_DATA=str(mnist_root))
    for args in (["experiment=pythae2022/table", "seed=0"], ["experiment=alemi2018/beta_sweep", "model.beta=0.1,8"]):
        result = run_genbench(["-m", *args, "budget=smoke", "hardware.threads=1"], tmp_path, env=env, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    pythae = subprocess.run(["genbench-table", "outputs/tables/pythae2022/mnist-smoke"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert pythae.returncode == 0, pythae.stderr
    assert "| VAE | 1 | 1 completed | 89.78 ± 0.01 |" in pythae.stdout
    assert "| IWAE (k = 50) | 1 | 1 completed | 86.82 ± 0.01 |" in pythae.stdout
    alemi = subprocess.run(["genbench-table", "outputs/tables/alemi2018/mnist-smoke"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert alemi.returncode == 0, alemi.stderr
    assert "| beta-VAE, model.beta=0.1 |" in alemi.stdout and "| beta-VAE, model.beta=8 |" in alemi.stdout
    assert (tmp_path / "outputs/tables/alemi2018/mnist-smoke/rate_distortion.png").is_file()
