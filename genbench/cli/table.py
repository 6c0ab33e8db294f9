"""`genbench-table <sweep dir>`: one row per setting of a multirun (seeds folded), mean ± std of each
final metric, as Markdown or CSV. Failed, diverged or unfinished jobs are counted in the status column
and left out of the means.

A Dirac-GAN study (jobs whose config has `study.method` / `study.scheme` and whose metrics have
`dirac/converged`, e.g. `genbench -m experiment=mescheder2018/dirac_methods`) is printed instead as a
method x update-scheme table of verdicts and final distances with the paper's finding beside each
method (`published:` in the experiment's config), and the jobs' phase_portrait.png are tiled into
<sweep dir>/phase_portraits.png.

A paper table (jobs of `experiment=<paper>/<row>` configs, with `study.row` and `published:`) is printed with
the published value, ours (mean ± std over seeds) and the difference per metric (genbench/cli/paper_table.py).
A VAE sweep (final elbo/rate and elbo/distortion; a paper table or not) also gets
<sweep dir>/rate_distortion.png, the rate-distortion plane of Alemi et al. 2018 (D against R, one point per
setting, lines of D + R = const)."""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import yaml

from genbench.cli import paper_table
from genbench.runs.overrides import experiment_overrides

FOLDED = ("seed=",)
SKIPPED_PREFIXES = ("hardware.threads=",)  # beside genbench.runs.overrides' own: a thread count is not a setting


def find_jobs(sweep_dir: Path) -> list[Path]:
    """Job folders under `sweep_dir`: those holding .hydra/overrides.yaml (sweep dir itself excluded)."""
    jobs = [p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml") if p.parent.parent != sweep_dir]
    return sorted(jobs, key=lambda j: (int(j.name) if j.name.isdigit() else float("inf"), str(j)))  # 2 before 10


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
            "published": config.get("published"), "path": job}


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
    groups: dict[str, list[dict]] = defaultdict(list)
    for job in jobs:
        groups[job["setting"]].append(job)
    names = metrics or sorted({k for j in jobs if j["status"] == "completed" for k, v in j["final"].items()
                               if _is_metric(k, v)})
    rows = []
    for setting, members in groups.items():
        counts: dict[str, int] = defaultdict(int)
        for job in members:
            counts[job["status"]] += 1
        done = [j for j in members if j["status"] == "completed"]
        row = {"setting": setting, "n": len(members),
               "status": ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))}
        for name in names:
            values = [float(j["final"][name]) for j in done if name in j["final"]]
            values = [v for v in values if math.isfinite(v)]
            row[name] = (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0,
                         len(values)) if values else None
        rows.append(row)
    return names, rows


def _fmt(cell) -> str:
    if cell is None:
        return "–"
    mean, std, n = cell
    return f"{mean:.4g} ± {std:.2g}" if n > 1 else f"{mean:.4g}"


def markdown(names: list[str], rows: list[dict]) -> str:
    header = ["setting", "jobs", "status", *names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["setting"], str(row["n"]), row["status"], *(_fmt(row[n]) for n in names)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(names: list[str], rows: list[dict], out) -> None:
    writer = csv.writer(out)
    writer.writerow(["setting", "jobs", "status", *[f"{n}_{s}" for n in names for s in ("mean", "std", "n")]])
    for row in rows:
        cells = []
        for n in names:
            cells += list(row[n]) if row[n] else ["", "", 0]
        writer.writerow([row["setting"], row["n"], row["status"], *cells])


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


def print_dirac(jobs: list[dict], sweep_dir: Path, as_csv: bool) -> None:
    methods, schemes, cells, rows = dirac_table(jobs)
    header = ["method", *schemes, "paper (Mescheder et al. 2018)", "agrees"]
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["method", "scheme", "status", "converged", "distance", "paper_converges"])
        for (method, scheme), job in cells.items():
            final = job["final"]
            writer.writerow([method, scheme, job["status"], final.get("dirac/converged", ""),
                             final.get("dirac/distance", ""), _paper(job, job["study"].get("scheme_key"))])
        return
    print(f"{len(jobs)} jobs in {sweep_dir}: Dirac-GAN, verdict (final distance to the equilibrium (0, 0))")
    print("verdict: converged when every point of the last 20% of the generator steps lies within 0.1 x the "
          "start point's distance of (0, 0) (conf/metrics/dirac.yaml: window, rtol)\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    panels = {key: job["path"] / "phase_portrait.png" for key, job in cells.items()}
    if any(p.is_file() for p in panels.values()):
        from genbench.analysis.dirac.plots import combined_png

        out = sweep_dir / "phase_portraits.png"
        combined_png(panels, methods, schemes, out)
        print(f"\nphase portraits of every run: {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genbench-table", description=__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder, e.g. outputs/multirun/<date>/<time>")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of Markdown")
    parser.add_argument("--metrics", help="comma-separated metric names (default: every final metric)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"genbench-table: error: {args.sweep_dir} is not a folder", file=sys.stderr)
        return 2
    jobs = read_jobs(find_jobs(args.sweep_dir))
    if not jobs:
        print(f"genbench-table: error: no genbench jobs under {args.sweep_dir} (no .hydra/overrides.yaml); "
              "pass the folder of a multirun, e.g. outputs/multirun/<date>/<time>", file=sys.stderr)
        return 2
    if is_dirac_study(jobs) and not args.metrics:
        print_dirac(jobs, args.sweep_dir, args.csv)
        return 0
    shared = label_settings(jobs)
    names, rows = summarize(jobs, args.metrics.split(",") if args.metrics else None)
    if paper_table.is_paper_table(jobs) and not args.metrics:  # experiment=<paper>/<row> jobs: conf/experiment
        paper_table.print_table(jobs, args.sweep_dir, args.csv)
    elif args.csv:
        write_csv(names, rows, sys.stdout)
    else:
        print(f"{len(jobs)} jobs in {args.sweep_dir}; final metrics, mean ± std over seeds")
        print(f"shared overrides: {' '.join(shared) or '(none)'}\n")
        print(markdown(names, rows))
    plot = rate_distortion(rows, args.sweep_dir)
    if plot and not args.csv:
        print(f"\nrate-distortion plane of the sweep (D against R, dashed: D + R = const): {plot}")
    return 0


def rate_distortion(rows: list[dict], sweep_dir: Path) -> Path | None:
    """VAE sweeps (final elbo/rate and elbo/distortion): <sweep dir>/rate_distortion.png, one point per setting."""
    points = [(row["setting"].replace("model.beta=", "beta="), row["elbo/rate"][0], row["elbo/distortion"][0])
              for row in rows if row.get("elbo/rate") and row.get("elbo/distortion")]
    if not points:
        return None
    from genbench.vae.rate_distortion import rate_distortion_png

    out = sweep_dir / "rate_distortion.png"
    rate_distortion_png(points, out, f"rate-distortion, {sweep_dir.name} (dashed: D + R = const)")
    return out


if __name__ == "__main__":
    sys.exit(main())
