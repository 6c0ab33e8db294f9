"""`genbench-table <sweep dir>`: one row per setting of a multirun (seeds folded), mean ± std of each
final metric, as Markdown or CSV. Failed, diverged or unfinished jobs are counted in the status column
and left out of the means."""

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

FOLDED = ("seed=",)
SKIPPED_PREFIXES = ("hydra.", "hardware.threads=", "resume=")


def find_jobs(sweep_dir: Path) -> list[Path]:
    """Job folders under `sweep_dir`: those holding .hydra/overrides.yaml (sweep dir itself excluded)."""
    jobs = [p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml") if p.parent.parent != sweep_dir]
    return sorted(jobs, key=lambda j: (int(j.name) if j.name.isdigit() else float("inf"), str(j)))  # 2 before 10


def read_job(job: Path) -> dict:
    overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
    run = json.loads((job / "run.json").read_text()) if (job / "run.json").is_file() else {}
    metrics = json.loads((job / "metrics.json").read_text()) if (job / "metrics.json").is_file() else {}
    kept = sorted(o for o in overrides if not o.startswith(FOLDED + SKIPPED_PREFIXES))
    return {"job": job.name, "overrides": kept, "status": run.get("status", "not started"),
            "final": metrics.get("final", {})}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genbench-table", description=__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder, e.g. outputs/multirun/<date>/<time>")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of Markdown")
    parser.add_argument("--metrics", help="comma-separated metric names (default: every final metric)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"genbench-table: error: {args.sweep_dir} is not a folder", file=sys.stderr)
        return 2
    jobs = [read_job(j) for j in find_jobs(args.sweep_dir)]
    if not jobs:
        print(f"genbench-table: error: no genbench jobs under {args.sweep_dir} (no .hydra/overrides.yaml); "
              "pass the folder of a multirun, e.g. outputs/multirun/<date>/<time>", file=sys.stderr)
        return 2
    shared = label_settings(jobs)
    names, rows = summarize(jobs, args.metrics.split(",") if args.metrics else None)
    if args.csv:
        write_csv(names, rows, sys.stdout)
    else:
        print(f"{len(jobs)} jobs in {args.sweep_dir}; final metrics, mean ± std over seeds")
        print(f"shared overrides: {' '.join(shared) or '(none)'}\n")
        print(markdown(names, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
