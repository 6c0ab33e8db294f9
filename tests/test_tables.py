"""Paper tables: every experiment config composes (also with budget=smoke), every row records its published
source, the smoke variant of every table runs through the `genbench` executable, and `genbench-table` prints
published value, our mean ± std over seeds and the difference (exact numbers checked on a fake sweep)."""

from __future__ import annotations

import csv
import io
import json
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


def test_there_are_paper_rows():
    assert len(ROWS) >= 10 and len(EXPERIMENTS) >= 20


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_config_composes_also_with_the_smoke_budget(name):
    """Each experiment passes the config checks, with and without budget=smoke, and keeps W&B in its default
    offline mode (GAN tables once set `override /logger: csv`: no experiment switches W&B off)."""
    from genbench.runs.config_checks import check_config

    for extra in ([], ["budget=smoke"]):
        cfg = compose([f"experiment={name}", *extra])
        task = {k: v for k, v in cfg.items() if k != "hydra"}
        check_config(type(cfg)(task))
        assert set(cfg.logger) == {"csv", "wandb"} and cfg.logger.wandb.mode == "offline", name
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


def test_every_row_states_its_setup_which_its_full_recipe_meets_and_the_smoke_budget_does_not():
    """published.setup is what a run must match for a Δ: the full recipe matches it, budget=smoke never does."""
    from omegaconf import OmegaConf

    for row in [e for e in EXPERIMENTS if "/_" not in e and not e.endswith("/table") and "mescheder" not in e]:
        full = OmegaConf.to_container(compose([f"experiment={row}"]))
        if "published" not in full and "columns" in full.get("study", {}):
            continue  # a row of a comparison without published values (families/toys)
        if "params" in (full["hydra"].get("sweeper") or {}):
            continue  # a table's sweep (families/mnist_nll)
        assert full["published"].get("setup"), row
        assert paper_table.not_comparable([{"config": full, "status": "completed"}], full["published"]) == [], row
        smoke = OmegaConf.to_container(compose([f"experiment={row}", "budget=smoke"]))
        reasons = paper_table.not_comparable([{"config": smoke, "status": "completed"}], smoke["published"])
        assert reasons and reasons[0].startswith("training length (generator steps) 10 (the protocol: "), row


def test_smoke_variants_of_every_table_run_and_genbench_table_prints_them(tmp_path):
    """All rows of the three tables, smoke budget, on the CIFAR-10 stand-in (CIFAR-10 files are absent here)."""
    result = run_genbench(["-m", f"experiment={','.join(ROWS)}", "budget=smoke", "dataset=cifar10_standin",
                           "train.max_steps=4", "logger=csv", "eval.every=4", "hardware.threads=1",
                           "hydra.sweep.dir=smoke", "eval.cache_dir=cache"], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = [table.read_job(j) for j in table.find_jobs(tmp_path / "smoke")]
    assert len(jobs) == len(ROWS) and all(j["status"] == "completed" for j in jobs)
    for job in jobs:  # every metric the row's paper reports was computed
        assert set(job["published"]["metrics"]) <= set(job["final"]), job["study"]["row"]
    out = run_genbench(["smoke"], tmp_path, exe="genbench-table")
    assert out.returncode == 0, out.stderr
    assert "miyato2018: SN-GANs (ResNet, hinge) *" in out.stdout and "| 8.22 ± 0.05 |" in out.stdout
    assert "mimicry2019: SNGAN *" in out.stdout and "16.77 ± 0.04" in out.stdout
    assert "a synthetic stand-in, not the paper's data" in out.stdout and "features: classifier" in out.stdout


# ------------------------------------------------------------------------------ numbers, on a fake sweep


def fake_job(root: Path, name: str, row: str, seed: int, status: str, final: dict, published: dict,
             protocol: dict | None = None, config: dict | None = None, paper: str = "p",
             overrides: tuple[str, ...] = ()) -> None:
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(f"- experiment={paper}/{row}\n- seed={seed}\n"
                                                   + "".join(f"- {o}\n" for o in overrides))
    order = {"A": 1, "B": 2}.get(row, 3)
    config = {**(config or {}), "study": {"name": paper, "row": row, "order": order}, "published": published}
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))  # key order as Hydra
    (job / "run.json").write_text(json.dumps({"status": status}))
    (job / "metrics.json").write_text(json.dumps({"final": final, "protocol": protocol or {"dataset": "cifar10",
                                                  "feature_extractor": "inception", "n_samples": 50000}}))


FULL = {"train": {"max_steps": 1000}, "metrics": {"n": 50000}}  # row A's protocol: its published.setup


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    a = {"source": "Paper, Table 1", "setup": FULL, "metrics": {"fid/value": 20.0, "is/mean": 8.0},
         "std": {"fid/value": 0.5}}
    b = {"source": "Paper, Table 1", "metrics": {"fid/value": 30.0}, "finding": "B is worse", "checked": False}
    fake_job(tmp_path, "0", "A", 0, "completed", {"fid/value": 21.0, "is/mean": 7.0}, a, config=FULL)
    fake_job(tmp_path, "1", "A", 1, "completed", {"fid/value": 23.0, "is/mean": 7.5}, a, config=FULL)
    fake_job(tmp_path, "2", "A", 2, "diverged", {"fid/value": 99.0, "is/mean": 1.0}, a, config=FULL)
    fake_job(tmp_path, "3", "B", 0, "completed", {"fid/value": 28.0}, b,
             {"dataset": "cifar10_standin", "feature_extractor": "classifier", "n_samples": 128})
    return tmp_path


def table_lines(out: str) -> dict[str, list[str]]:
    return {line.split(" | ")[0].strip("| "): [c.strip() for c in line.strip("|").split(" | ")]
            for line in out.splitlines() if line.startswith("| ") and "---" not in line}


def test_published_ours_and_difference_are_exact(sweep, capsys):
    assert table.main([str(sweep)]) == 0
    out = capsys.readouterr().out
    lines = table_lines(out)
    assert lines["row"][-2:] == ["comparable", "finding holds"]
    # A: completed seeds only: fid 21, 23 -> mean 22, std sqrt(2) = 1.414, diff 22 - 20 = +2;
    #    is 7, 7.5 -> 7.25, std 0.3536, diff -0.75. The diverged seed's 99 is left out. Its setup matches: Δ.
    assert lines["A"] == ["A", "3", "2 completed, 1 diverged", "20 ± 0.5", "22 ± 1.4 (n=2)", "+2", "8",
                          "7.25 ± 0.35 (n=2)", "-0.75", "yes", "–"]
    # B: stand-in data and classifier features: starred, ours and the paper's value printed, no Δ, the reasons named
    assert lines["B *"][:9] == ["B *", "1", "1 completed", "30 (unchecked)", "28 (n=1)", "–", "–", "–", "–"]
    assert lines["B *"][9] == ("no: data: cifar10_standin (a synthetic stand-in, not the paper's data); "
                               "features: classifier (the paper: Inception)")
    assert lines["B *"][10] == "not checked: the row records no `check:` for its finding"
    assert "finding: B is worse" in out and "published values not re-checked" in out
    assert "* not comparable, no Δ: data: cifar10_standin" in out


def test_a_shortened_run_is_starred_names_each_difference_and_prints_no_difference(tmp_path, capsys):
    """budget=smoke as in `experiment=pythae2022/table budget=smoke`: ours and the paper's NLL, no Δ, and why."""
    published = {"source": "pythae README", "metrics": {"nll/value": 89.78},
                 "setup": {"train": {"max_steps": 300000}, "metrics": {"nll": {"k": 200, "n": 10000}}}}
    smoke = {"train": {"max_steps": 10}, "metrics": {"nll": {"k": 100, "n": 32}}}
    fake_job(tmp_path, "0", "A", 0, "completed", {"nll/value": 521.9}, published, {"dataset": "mnist"}, smoke)
    full = {"train": {"max_steps": 300000}, "metrics": {"nll": {"k": 200, "n": 10000}}}
    fake_job(tmp_path, "1", "B", 0, "completed", {"nll/value": 90.0}, published, {"dataset": "mnist"}, full)
    assert table.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = table_lines(out)
    assert lines["A *"][3:6] == ["89.78", "521.9 (n=1)", "–"] and "+432" not in out
    assert lines["A *"][6] == ("no: training length (generator steps) 10 (the protocol: 300,000); importance "
                               "samples k 100 (the protocol: 200); test images (NLL) 32 (the protocol: 10,000)")
    assert lines["B"][3:7] == ["89.78", "90 (n=1)", "+0.22", "yes"]  # the full protocol keeps its Δ
    assert table.main([str(tmp_path), "--csv"]) == 0
    rows = {r["row"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert (rows["A"]["difference"], rows["A"]["comparable"]) == ("", "no") and "300,000" in rows["A"]["caveats"]
    assert float(rows["B"]["difference"]) == pytest.approx(0.22) and rows["B"]["comparable"] == "yes"


def test_one_seed_of_a_shortened_sweep_makes_the_row_not_comparable(tmp_path, capsys):
    published = {"source": "S", "metrics": {"gs/score": None}, "setup": {"metrics": {"gs": {"n": 1000}}}}
    fake_job(tmp_path, "0", "A", 0, "completed", {"gs/score": 0.1}, published, config={"metrics": {"gs": {"n": 1000}}})
    fake_job(tmp_path, "1", "A", 1, "completed", {"gs/score": 0.2}, published, config={"metrics": {"gs": {"n": 10}}})
    assert table.main([str(tmp_path)]) == 0
    assert "no: landmark draws 10, 1,000 (the protocol: 1,000)" in capsys.readouterr().out


def khrulkov(tmp_path: Path, wgan: list[float], wgan_gp: list[float]) -> Path:
    finding = "WGAN-GP's MRLT is closer to MNIST's than WGAN's (lower GS)"
    for i, value in enumerate(wgan):
        fake_job(tmp_path, f"w{i}", "WGAN", i, "completed", {"gs/score": value},
                 {"source": "K&O 2018", "metrics": {"gs/score": None}, "finding": finding,
                  "check": {"metric": "gs/score", "higher_than": "WGAN-GP"}}, paper="khrulkov2018")
    for i, value in enumerate(wgan_gp):
        fake_job(tmp_path, f"g{i}", "WGAN-GP", i, "completed", {"gs/score": value},
                 {"source": "K&O 2018", "metrics": {"gs/score": None}, "finding": finding,
                  "check": {"metric": "gs/score", "lower_than": "WGAN"}}, paper="khrulkov2018")
    return tmp_path


def test_a_finding_between_rows_is_checked_against_our_runs(tmp_path, capsys):
    """Khrulkov & Oseledets: WGAN-GP's GS below WGAN's. The smoke run of the issue (WGAN 0.151 < WGAN-GP 0.157)
    disagrees, and the table says so on both rows."""
    assert table.main([str(khrulkov(tmp_path / "no", [0.151], [0.157]))]) == 0
    lines = table_lines(capsys.readouterr().out)
    assert lines["WGAN-GP"][-1] == "no: gs/score WGAN-GP 0.157 > WGAN 0.151"
    assert lines["WGAN"][-1] == "no: gs/score WGAN 0.151 < WGAN-GP 0.157"
    assert table.main([str(khrulkov(tmp_path / "yes", [0.2, 0.4], [0.1, 0.12]))]) == 0
    out = capsys.readouterr().out
    # means 0.3 (std 0.141) and 0.11: the order holds, by more than the seeds' spread
    assert table_lines(out)["WGAN-GP"][-1] == "yes: gs/score WGAN-GP 0.11 < WGAN 0.3"
    assert "our runs agree: yes: gs/score WGAN-GP 0.11 < WGAN 0.3" in out
    assert table.main([str(khrulkov(tmp_path / "close", [0.1, 0.3], [0.15, 0.17]))]) == 0
    # means 0.2 and 0.16 differ by less than WGAN's seed std 0.141
    assert table_lines(capsys.readouterr().out)["WGAN-GP"][-1] == \
        "yes: gs/score WGAN-GP 0.16 < WGAN 0.2 (within the seed spread)"


def test_a_finding_along_a_swept_key_is_checked_and_shown_once(tmp_path, capsys):
    """Alemi et al.: the rate falls and the distortion rises as beta grows (means over seeds, sorted by beta)."""
    published = {"source": "Alemi et al. 2018", "metrics": {"elbo/rate": None}, "finding": "R falls as beta grows",
                 "check": [{"metric": "elbo/rate", "falls_with": "model.beta"},
                           {"metric": "elbo/distortion", "rises_with": "model.beta"}]}
    runs = [(0.5, 0, 40.0, 60.0), (8, 0, 1.0, 110.0), (8, 1, 3.0, 120.0), (2, 0, 10.0, 90.0)]
    for name, (beta, seed, rate, dist) in enumerate(runs):
        fake_job(tmp_path / "yes", str(name), "beta-VAE", seed, "completed",
                 {"elbo/rate": rate, "elbo/distortion": dist}, published, {"dataset": "mnist"},
                 {"model": {"beta": beta}}, paper="alemi2018", overrides=(f"model.beta={beta}",))
    assert table.main([str(tmp_path / "yes")]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| beta-VAE")]
    assert lines[0].endswith("| yes: elbo/rate 40, 10, 2 at model.beta = 0.5, 2, 8; elbo/distortion 60, 90, 115 "
                             "at model.beta = 0.5, 2, 8 |")
    assert all(line.endswith("| ″ |") for line in lines[1:])
    (tmp_path / "yes" / "3" / "metrics.json").write_text(json.dumps({"final": {"elbo/rate": 50.0,
                                                                               "elbo/distortion": 90.0}}))
    assert table.main([str(tmp_path / "yes")]) == 0
    assert "no: elbo/rate rises from model.beta=0.5 to 2 (40 -> 50)" in capsys.readouterr().out


def test_highest_of_the_table(tmp_path, capsys):
    top = {"source": "Lucas et al. 2018", "metrics": {"is/mean": None}, "finding": "B scores highest",
           "check": {"metric": "is/mean", "highest": True}}
    fake_job(tmp_path, "0", "A", 0, "completed", {"is/mean": 6.0}, {"source": "L", "metrics": {"is/mean": None}})
    fake_job(tmp_path, "1", "B", 0, "completed", {"is/mean": 5.0}, top)
    assert table.main([str(tmp_path)]) == 0
    assert table_lines(capsys.readouterr().out)["B"][-1] == "no: is/mean highest: A 6"


def test_csv_has_one_line_per_row_and_metric(sweep, capsys):
    assert table.main([str(sweep), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    cell = {(r["row"], r["metric"]): r for r in rows}
    assert set(cell) == {("A", "fid/value"), ("A", "is/mean"), ("B", "fid/value"), ("B", "is/mean")}
    assert float(cell["A", "fid/value"]["ours_mean"]) == 22.0 and float(cell["A", "fid/value"]["difference"]) == 2.0
    assert cell["B", "is/mean"]["paper"] == "" and cell["B", "is/mean"]["ours_n"] == "0"
    assert cell["B", "fid/value"]["difference"] == "" and cell["B", "fid/value"]["comparable"] == "no"


def test_dirac_and_plain_sweeps_are_not_paper_tables():
    dirac = [{"study": {"method": "R1", "scheme": "alternating"}, "published": {"converges": True}}]
    plain = [{"study": None, "published": None}]
    assert not paper_table.is_paper_table(dirac) and not paper_table.is_paper_table(plain)


def test_the_dirac_header_cites_the_jobs_source_and_the_study_has_a_named_folder():
    source = "Mescheder, Geiger & Nowozin 2018, Which Training Methods for GANs do actually Converge? (ICML)"
    assert table.cite([{"published": {"source": source}}]) == "Mescheder et al. 2018"
    assert table.cite([{"published": {"source": "Goodfellow 2014, GANs"}}]) == "Goodfellow 2014"
    assert table.cite([{"published": {}}]) == "the paper"
    cfg = compose(["experiment=mescheder2018/dirac_methods"])
    assert cfg.hydra.sweep.dir == "outputs/tables/mescheder2018/dirac-full"


def test_a_swept_row_gets_one_line_per_setting_and_its_notes_once(tmp_path, capsys):
    """alemi2018/beta_sweep: one paper row swept over model.beta -> one line per beta (sweep order, seeds folded),
    the source and finding printed once; null published values print "–"; no check recorded: said so."""
    published = {"source": "Alemi et al. 2018", "metrics": {"elbo/rate": None}, "finding": "R falls as beta grows"}
    for name, (beta, seed, rate) in enumerate([(8, 0, 1.0), (8, 1, 3.0), (0.5, 0, 40.0)]):
        fake_job(tmp_path, str(name), "beta-VAE", seed, "completed", {"elbo/rate": rate, "elbo/distortion": 100 - rate},
                 published, {"dataset": "mnist"}, paper="alemi2018", overrides=(f"model.beta={beta}",))
    assert table.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| beta-VAE")]
    assert lines == ["| beta-VAE, model.beta=8 | 2 | 2 completed | – | 2 ± 1.4 (n=2) | – | yes | "
                     "not checked: the row records no `check:` for its finding |",
                     "| beta-VAE, model.beta=0.5 | 1 | 1 completed | – | 40 (n=1) | – | yes | ″ |"]
    assert out.count("finding: R falls as beta grows") == 1 and "* not comparable" not in out
    assert (tmp_path / "rate_distortion.png").is_file()


def test_rate_distortion_joins_only_the_points_of_one_model(tmp_path, monkeypatch, capsys):
    """pythae2022/table: VAE and IWAE are two rows, two curves; a plain sweep joins settings differing in numbers."""
    drawn = []
    monkeypatch.setattr("genbench.vae.rate_distortion.rate_distortion_png", lambda p, *a, **k: drawn.append(p))
    for name, row in (("0", "VAE"), ("1", "IWAE (k = 50)")):
        fake_job(tmp_path / "pythae", name, row, 0, "completed", {"elbo/rate": 20.0 + int(name),
                 "elbo/distortion": 70.0, "nll/value": 90.0}, {"source": "pythae", "metrics": {"nll/value": 89.78}},
                 {"dataset": "mnist"}, paper="pythae2022")
    assert table.main([str(tmp_path / "pythae")]) == 0
    assert sorted(curve for curve, *_ in drawn[-1]) == ["IWAE (k = 50)", "VAE"]
    plain = tmp_path / "plain"
    for name, (model, beta, rate) in enumerate([("vae", 1, 20.0), ("vae", 4, 5.0), ("iwae", 1, 25.0)]):
        job = plain / str(name)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- model={model}\n- model.beta={beta}\n")
        (job / "run.json").write_text(json.dumps({"status": "completed"}))
        (job / "metrics.json").write_text(json.dumps({"final": {"elbo/rate": rate, "elbo/distortion": 90 - rate}}))
    assert table.main([str(plain)]) == 0
    assert sorted(drawn[-1]) == [("model=iwae", "beta=1", 25.0, 65.0), ("model=vae", "beta=1", 20.0, 70.0),
                                 ("model=vae", "beta=4", 5.0, 85.0)]
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
    pythae = run_genbench(["outputs/tables/pythae2022/mnist-smoke"], tmp_path, exe="genbench-table")
    assert pythae.returncode == 0, pythae.stderr
    # budget=smoke: starred, ours beside the published NLL, no Δ, each difference from the protocol named
    vae = next(line for line in pythae.stdout.splitlines() if line.startswith("| VAE *"))
    assert vae.startswith("| VAE * | 1 | 1 completed | 89.78 ± 0.01 | ") and " | – | no: training length" in vae
    assert "importance samples k 100 (the protocol: 200)" in vae
    assert "| IWAE (k = 50) * | 1 | 1 completed | 86.82 ± 0.01 |" in pythae.stdout
    alemi = run_genbench(["outputs/tables/alemi2018/mnist-smoke"], tmp_path, exe="genbench-table")
    assert alemi.returncode == 0, alemi.stderr
    assert "| beta-VAE, model.beta=0.1 * |" in alemi.stdout and "| beta-VAE, model.beta=8 * |" in alemi.stdout
    assert "our runs agree: " in alemi.stdout  # the finding's check ran (yes or no: 10 steps decide nothing)
    assert (tmp_path / "outputs/tables/alemi2018/mnist-smoke/rate_distortion.png").is_file()


def test_a_dirac_sweep_prints_through_the_same_renderer(tmp_path, capsys):
    source = "Mescheder, Geiger & Nowozin 2018, Which Training Methods for GANs do actually Converge? (ICML)"
    for name, (method, converged, distance) in enumerate([("GAN", 0.0, 1.9), ("R1", 1.0, 0.01)]):
        job = tmp_path / str(name)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- m={method}\n")
        config = {"study": {"method": method, "scheme": "simultaneous GD", "scheme_key": "simultaneous",
                            "order": name}, "published": {"source": source, "converges": method == "R1"}}
        (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        (job / "run.json").write_text(json.dumps({"status": "completed"}))
        (job / "metrics.json").write_text(json.dumps({"final": {"dirac/converged": converged,
                                                                "dirac/distance": distance}}))
    assert table.main([str(tmp_path)]) == 0
    lines = table_lines(capsys.readouterr().out)
    assert lines["method"] == ["method", "simultaneous GD", "paper (Mescheder et al. 2018)", "agrees"]
    assert lines["GAN"] == ["GAN", "not converged (1.9)", "does not converge", "1/1"]
    assert lines["R1"] == ["R1", "converged (0.01)", "converges", "1/1"]
    assert table.main([str(tmp_path), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["method"], r["converged"], r["paper_converges"]) for r in rows] == [("GAN", "0.0", "False"),
                                                                                  ("R1", "1.0", "True")]
