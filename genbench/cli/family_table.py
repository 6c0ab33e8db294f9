"""Comparison tables in `genbench-table`: one line per model row and dataset (seeds folded), the columns the
experiment names, "–" where a metric does not apply to a family (a GAN has no NLL). For tables whose rows are
model families rather than one paper's rows, e.g. `genbench -m experiment=families/toys`.

A job belongs to such a table when its config has

    study:
      name: <table>
      row: <row label>           order: <position>
      columns: {<header>: <metric key in metrics.json>, ...}   (the same for every row)
      density: <how the row's likelihood is obtained, in words>   (optional: exact, quadrature, IWAE estimate)

so a new row (a new family) is one YAML file. Rows with `published:` values print as paper tables instead
(genbench/cli/paper_table.py)."""

from __future__ import annotations

import sys

from genbench.cli import render


def is_comparison(jobs: list[dict]) -> bool:
    return bool(jobs) and all(isinstance(j.get("study"), dict) and "row" in j["study"]
                              and isinstance(j["study"].get("columns"), dict) for j in jobs)


def _dataset(job: dict) -> str:
    return str(((job.get("config") or {}).get("dataset") or {}).get("name", "?"))


def rows(jobs: list[dict]) -> tuple[dict[str, str], list[dict]]:
    """(the columns {header: metric key}, one dict per (dataset, row) in dataset then study order)."""
    columns = dict(jobs[0]["study"]["columns"])
    groups: dict[tuple[str, str], list[dict]] = {}
    for job in jobs:
        groups.setdefault((_dataset(job), job["study"]["row"]), []).append(job)
    datasets = list(dict.fromkeys(_dataset(j) for j in jobs))
    key = lambda item: (datasets.index(item[0][0]), item[1][0]["study"].get("order", 0))  # noqa: E731
    out = []
    for (dataset, row), members in sorted(groups.items(), key=key):
        done = render.completed(members)
        out.append({"dataset": dataset, "row": row, "jobs": len(members), "status": render.status_counts(members),
                    "density": members[0]["study"].get("density", "–"),
                    "cells": {h: render.mean_std([j["final"].get(k) for j in done]) for h, k in columns.items()},
                    "wall_s": render.mean_std([j.get("wall_s") for j in done])})
    return columns, out


def print_table(jobs: list[dict], sweep_dir, as_csv: bool) -> None:
    columns, table = rows(jobs)
    if as_csv:
        header = ["dataset", "row", "jobs", "status", "density",
                  *[f"{h}_{s}" for h in columns for s in ("mean", "std", "n")], "wall_s"]
        lines = [[r["dataset"], r["row"], r["jobs"], r["status"], r["density"],
                  *(c for h in columns for c in (r["cells"][h] or (None, None, 0))),
                  (r["wall_s"] or (None,))[0]] for r in table]
        render.write_csv(header, lines, sys.stdout)
        return
    names = sorted({j["study"].get("name", "?") for j in jobs})
    print(f"{render.count(len(jobs), 'job')} in {sweep_dir}: {', '.join(names)}; final metrics, mean ± std over seeds; "
          "– where a metric does not apply to the family\n")
    header = ["dataset", "model", "jobs", "status", *columns, "density (NLL)", "wall s"]
    lines = [[r["dataset"], r["row"], str(r["jobs"]), r["status"], *(render.fmt_stats(r["cells"][h]) for h in columns),
              r["density"], render.num((r["wall_s"] or (None,))[0], 3)] for r in table]
    print(render.markdown(header, lines))
    print("\ncolumns: " + ", ".join(f"{h} = {k}" for h, k in columns.items()))
