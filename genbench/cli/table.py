"""`genbench-table <sweep dir>`: one row per setting of a multirun (seeds folded), mean ± std of each
final metric, as Markdown or CSV; with no folder, the last sweep started here (outputs/last_sweep, else the newest
under outputs/multirun/). Failed, diverged or unfinished jobs are counted in the status column and left out of the
means.

A Dirac-GAN study (jobs whose config has `study.method` / `study.scheme` and whose metrics have
`dirac/converged`, e.g. `genbench -m experiment=mescheder2018/dirac_methods`) is printed instead as a
method x update-scheme table of verdicts and final distances with the paper's finding beside each
method (`published:` in the experiment's config), and the jobs' phase_portrait.png are tiled into
<sweep dir>/phase_portraits.png.

A paper table (jobs of `experiment=<paper>/<row>` configs, with `study.row` and `published:`) is printed with
the published value, ours (mean ± std over seeds) and the difference per metric (genbench/cli/paper_table.py).
A comparison table (jobs whose `study` names `columns`, e.g. `genbench -m experiment=families/toys`) is printed
with one line per model row and dataset and those columns (genbench/cli/family_table.py).
A VAE sweep (final elbo/rate and elbo/distortion; a paper table or not) also gets
<sweep dir>/rate_distortion.png, the rate-distortion plane of Alemi et al. 2018 (D against R, one point per
setting, lines of D + R = const).

When the jobs logged to W&B, these figures go to W&B as well, to a run `<group>/table` in the sweep's group
(genbench/cli/table_wandb.py; --no-wandb: not)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

from genbench.cli import family_table, paper_table, render
from genbench.cli.sweeps import default_sweeps, find_jobs, last_sweep, pointer
from genbench.runs.overrides import experiment_overrides

FOLDED = ("seed=",)
SKIPPED_PREFIXES = ("hardware.threads=",)  # beside genbench.runs.overrides' own: a thread count is not a setting


class UnreadableJob(Exception):
    """A job file that cannot be parsed (half-written by a killed job, or edited by hand)."""

    def __init__(self, path: Path, err: Exception):
        super().__init__(f"{path}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
        self.path = path


def _read(path: Path, parse, default):
    """`parse(text)` of the file at `path` (`default` when absent, or empty for YAML); UnreadableJob when it
    cannot be parsed or is not of the expected kind (a dict, or a list for overrides)."""
    if not path.is_file():
        return default
    try:
        value = parse(path.read_text())
    except (ValueError, yaml.YAMLError, OSError) as err:  # json.JSONDecodeError and UnicodeDecodeError: ValueError
        raise UnreadableJob(path, err) from None
    if value is None and parse is yaml.safe_load:
        return default
    if not isinstance(value, type(default)):
        raise UnreadableJob(path, TypeError(f"expected a {type(default).__name__}, found {type(value).__name__}"))
    return value


def read_job(job: Path) -> dict:
    overrides = _read(job / ".hydra" / "overrides.yaml", yaml.safe_load, [])
    run = _read(job / "run.json", json.loads, {})
    metrics = _read(job / "metrics.json", json.loads, {})
    kept = sorted(experiment_overrides(overrides, also=FOLDED + SKIPPED_PREFIXES))
    config = _read(job / ".hydra" / "config.yaml", yaml.safe_load, {})
    return {"job": job.name, "overrides": kept, "status": run.get("status", "not started"),
            "final": metrics.get("final", {}), "protocol": metrics.get("protocol", {}), "study": config.get("study"),
            "published": config.get("published"), "config": config, "path": job,
            "wandb_id": run.get("wandb_id"), "wall_s": run.get("wall_time_s")}


def read_jobs(folders: list[Path]) -> list[dict]:
    """read_job of each folder; a job whose files cannot be parsed is left out with a warning naming the file."""
    jobs = []
    for folder in folders:
        try:
            jobs.append(read_job(folder))
        except UnreadableJob as err:
            print(f"genbench-table: warning: job {folder.name} left out: {err}", file=sys.stderr)
    return jobs


def label_settings(jobs: list[dict]) -> list[str]:
    """Give each job its `setting`: the overrides that vary across the sweep; returns the shared ones."""
    shared = sorted(set.intersection(*(set(j["overrides"]) for j in jobs))) if jobs else []
    for job in jobs:
        job["setting"] = " ".join(o for o in job["overrides"] if o not in shared) or "(shared overrides only)"
    return shared


def _is_metric(key: str, value) -> bool:
    return key != "step" and not key.startswith("time/") and isinstance(value, (int, float))


def summarize(jobs: list[dict], metrics: list[str] | None = None) -> tuple[list[str], list[dict]]:
    """(metric names, one row per setting): status counts and mean ± std of each metric over completed seeds."""
    groups: dict[str, list[dict]] = {}
    for job in jobs:
        groups.setdefault(job["setting"], []).append(job)
    names = metrics or sorted({k for j in render.completed(jobs) for k, v in j["final"].items() if _is_metric(k, v)})
    rows = []
    for setting, members in groups.items():
        done = render.completed(members)
        row = {"setting": setting, "n": len(members), "status": render.status_counts(members)}
        row.update({name: render.mean_std([j["final"].get(name) for j in done]) for name in names})
        rows.append(row)
    return names, rows


def markdown(names: list[str], rows: list[dict]) -> str:
    return render.markdown(["setting", "jobs", "status", *names],
                           [[r["setting"], str(r["n"]), r["status"], *(render.fmt_stats(r[n]) for n in names)]
                            for r in rows])


def write_csv(names: list[str], rows: list[dict], out) -> None:
    header = ["setting", "jobs", "status", *[f"{n}_{s}" for n in names for s in ("mean", "std", "n")]]
    lines = [[r["setting"], r["n"], r["status"], *(c for n in names for c in (r[n] or (None, None, 0)))]
             for r in rows]
    render.write_csv(header, lines, out)


# ------------------------------------------------------------------------------------ Dirac-GAN studies


def is_dirac_study(jobs: list[dict]) -> bool:
    return bool(jobs) and all(isinstance(j.get("study"), dict) and "method" in j["study"] and "scheme" in j["study"]
                              for j in jobs) and any("dirac/converged" in j["final"] for j in jobs)


def _verdict(job: dict | None) -> str:
    if job is None:
        return "–"
    if job["status"] != "completed" or "dirac/converged" not in job["final"]:
        return job["status"]
    word = "converged" if job["final"]["dirac/converged"] >= 0.5 else "not converged"
    return f"{word} ({job['final']['dirac/distance']:.3g})"


def _paper(job: dict, scheme_key: str | None) -> bool | None:
    """The paper's finding for this job's method under its update scheme; None where it states none."""
    published = job.get("published") or {}
    if "converges" not in published:
        return None
    schemes = published.get("schemes")
    if schemes is not None and scheme_key not in schemes:
        return None
    return bool(published["converges"])


def dirac_table(jobs: list[dict]) -> tuple[list[str], list[str], dict, list[list[str]]]:
    """(methods, schemes, {(method, scheme): job}, rows) in the study's order (study.order, scheme_order)."""
    methods = sorted({j["study"]["method"]: j["study"].get("order", 0) for j in jobs}.items(), key=lambda x: x[1])
    schemes = sorted({j["study"]["scheme"]: j["study"].get("scheme_order", 0) for j in jobs}.items(),
                     key=lambda x: x[1])
    methods, schemes = [m for m, _ in methods], [s for s, _ in schemes]
    cells = {(j["study"]["method"], j["study"]["scheme"]): j for j in jobs}
    rows = []
    for method in methods:
        row, findings, agree = [method], set(), []
        for scheme in schemes:
            job = cells.get((method, scheme))
            row.append(_verdict(job))
            paper = _paper(job, job["study"].get("scheme_key")) if job else None
            if paper is None:
                continue
            findings.add(paper)
            if job["status"] == "completed" and "dirac/converged" in job["final"]:
                agree.append((job["final"]["dirac/converged"] >= 0.5) == paper)
        any_job = next(j for j in jobs if j["study"]["method"] == method)
        stated = (any_job.get("published") or {}).get("schemes")
        paper_text = "–" if not findings else ("converges" if findings == {True} else "does not converge")
        unstated = [s for s in schemes if stated is not None and cells.get((method, s)) is not None
                    and cells[method, s]["study"].get("scheme_key") not in stated]
        if findings and unstated:
            paper_text += f" (not stated for {', '.join(unstated)})"
        row += [paper_text, f"{sum(agree)}/{len(agree)}" if agree else "–"]
        rows.append(row)
    return methods, schemes, cells, rows


def cite(jobs: list[dict]) -> str:
    """"Mescheder et al. 2018" from the jobs' published.source ("Mescheder, Geiger & Nowozin 2018, ..."): the
    authors up to the first year, shortened to the first author et al.; "paper" when no source states one."""
    sources = [(j.get("published") or {}).get("source") or "" for j in jobs]
    match = next((m for m in (re.match(r"(.*?)\s*\b((?:19|20)\d\d)\b", s) for s in sources) if m), None)
    if match is None:
        return "the paper"
    authors, year = match.group(1).rstrip(", "), match.group(2)
    several = re.search(r",|&| and ", authors)
    return f"{authors.split(',')[0].split(' &')[0].split(' and ')[0].strip()} et al. {year}" if several else \
        f"{authors} {year}"


def print_dirac(jobs: list[dict], sweep_dir: Path, as_csv: bool) -> None:
    methods, schemes, cells, rows = dirac_table(jobs)
    header = ["method", *schemes, f"paper ({cite(jobs)})", "agrees"]
    if as_csv:
        render.write_csv(["method", "scheme", "status", "converged", "distance", "paper_converges"],
                         [[method, scheme, job["status"], job["final"].get("dirac/converged"),
                           job["final"].get("dirac/distance"), _paper(job, job["study"].get("scheme_key"))]
                          for (method, scheme), job in cells.items()], sys.stdout)
        return
    print(f"{render.count(len(jobs), 'job')} in {sweep_dir}: Dirac-GAN, verdict (final distance to the "
          "equilibrium (0, 0))")
    print("verdict: converged when every point of the last 20% of the generator steps lies within 0.1 x the "
          "start point's distance of (0, 0) (conf/metrics/dirac.yaml: window, rtol)\n")
    print(render.markdown(header, rows))
    panels = {key: job["path"] / "phase_portrait.png" for key, job in cells.items()}
    if any(p.is_file() for p in panels.values()):
        from genbench.analysis.dirac.plots import combined_png

        out = sweep_dir / "phase_portraits.png"
        combined_png(panels, methods, schemes, out)
        print(f"\nphase portraits of every run: {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genbench-table", description=__doc__)
    parser.add_argument("sweep_dir", type=Path, nargs="?",
                        help="a multirun folder, e.g. outputs/multirun/<date>/<time> (default: the last sweep "
                             "started here)")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of Markdown")
    parser.add_argument("--metrics", help="comma-separated metric names (default: every final metric)")
    parser.add_argument("--no-wandb", action="store_true",
                        help="do not log the figures to W&B (by default they are when the jobs logged to W&B)")
    args = parser.parse_args(argv)
    if args.sweep_dir is None:
        last = last_sweep()
        if last is None:
            print(f"genbench-table: error: no sweep folder given, and no sweep with jobs is named by {pointer()} or "
                  f"matches {default_sweeps()} here: pass the folder of a multirun, e.g. "
                  "outputs/multirun/<date>/<time>", file=sys.stderr)
            return 2
        print(f"genbench-table: the last sweep here: {last}", file=sys.stderr)
        args.sweep_dir = last
    if not args.sweep_dir.is_dir():
        last = last_sweep()
        example = f"{last} (the last sweep here)" if last else "outputs/multirun/<date>/<time>"
        print(f"genbench-table: error: {args.sweep_dir} is not a folder: pass the folder of a multirun, e.g. {example}",
              file=sys.stderr)
        return 2
    from genbench.analysis.sanity.studies import read as read_study

    study = read_study(args.sweep_dir)
    if study is not None:  # a metric sanity study's folder (genbench-eval --study)
        from genbench.analysis.sanity.table import render as render_study

        print(render_study(study))
        return 0
    jobs = read_jobs(find_jobs(args.sweep_dir))
    if not jobs:
        print(f"genbench-table: error: no genbench jobs under {args.sweep_dir} (no .hydra/overrides.yaml); "
              "pass the folder of a multirun, e.g. outputs/multirun/<date>/<time>", file=sys.stderr)
        return 2
    if is_dirac_study(jobs) and not args.metrics:
        print_dirac(jobs, args.sweep_dir, args.csv)
        return _to_wandb(args, jobs)
    if family_table.is_comparison(jobs) and not args.metrics:  # e.g. experiment=families/toys
        family_table.print_table(jobs, args.sweep_dir, args.csv)
        return _to_wandb(args, jobs)
    shared = label_settings(jobs)
    names, rows = summarize(jobs, args.metrics.split(",") if args.metrics else None)
    paper = None
    if paper_table.is_paper_table(jobs) and not args.metrics:  # experiment=<paper>/<row> jobs: conf/experiment
        paper = paper_table.print_table(jobs, args.sweep_dir, args.csv)
    elif args.csv:
        write_csv(names, rows, sys.stdout)
    else:
        print(f"{render.count(len(jobs), 'job')} in {args.sweep_dir}; final metrics, mean ± std over seeds")
        print(f"shared overrides: {' '.join(shared) or '(none)'}\n")
        print(markdown(names, rows))
    plot = rate_distortion(rd_points(rows, paper), args.sweep_dir)
    if plot and not args.csv:
        print(f"\nrate-distortion plane of the sweep (D against R, dashed: D + R = const): {plot}")
    return _to_wandb(args, jobs)


def _to_wandb(args: argparse.Namespace, jobs: list[dict]) -> int:
    """The sweep folder's figures to the jobs' W&B group (genbench/cli/table_wandb.py)."""
    if not args.no_wandb:
        from genbench.cli.table_wandb import log_figures

        log_figures(args.sweep_dir, jobs)
    return 0


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def rd_points(rows: list[dict], paper: list[dict] | None) -> list[tuple[str, str, float, float]]:
    """(curve, label, R, D) of each setting with final elbo/rate and elbo/distortion. A curve joins only the
    points of one model: a paper row's lines (e.g. beta-VAE over beta; VAE and IWAE are two rows, two curves), or
    in a plain sweep the settings that differ only in numbers (model.beta=1, 4 on one curve; model=vae, iwae not)."""
    points = []
    if paper is not None:
        for row in paper:
            done = render.completed(row["members"])
            rate, dist = (render.mean_std([j["final"].get(k) for j in done]) for k in ("elbo/rate", "elbo/distortion"))
            if rate and dist:
                label = row["row"][len(row["base"]) + 2:] or row["base"]
                points.append((row["base"], label.replace("model.beta=", "beta="), rate[0], dist[0]))
        return points
    for row in rows:
        if row.get("elbo/rate") and row.get("elbo/distortion"):
            parts = row["setting"].split(" ")
            numeric = [p for p in parts if "=" in p and _number(p.split("=", 1)[1])]
            curve = " ".join(p for p in parts if p not in numeric)
            label = " ".join(numeric) or row["setting"]
            points.append((curve, label.replace("model.beta=", "beta="), row["elbo/rate"][0],
                           row["elbo/distortion"][0]))
    return points


def rate_distortion(points: list[tuple[str, str, float, float]], sweep_dir: Path) -> Path | None:
    """VAE sweeps (final elbo/rate and elbo/distortion): <sweep dir>/rate_distortion.png, one point per setting."""
    if not points:
        return None
    from genbench.vae.rate_distortion import rate_distortion_png

    out = sweep_dir / "rate_distortion.png"
    rate_distortion_png(points, out, f"rate-distortion, {sweep_dir.name} (dashed: D + R = const)")
    return out


if __name__ == "__main__":
    sys.exit(main())
