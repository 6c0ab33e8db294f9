"""Paper tables in `genbench-table`: one row per paper row (seeds folded), each published number beside our
mean ± std over seeds and the difference.

A job belongs to a paper table when its config (an `experiment=<paper>/<row>` file) has

    study:     {name: <paper>, row: <row label>, order: <position>}
    published:
      source: <paper, table>
      protocol: <how the paper measured>        (optional)
      n_samples: <samples the paper evaluated>  (optional; ours differ -> flagged)
      metrics: {<metric key>: <value>, ...}     (keys as in metrics.json, e.g. fid/value, is/mean)
      std: {<metric key>: <value>, ...}         (optional)
      finding: <a statement without a number>   (optional)
      reference: <a further published value to compare with>   (optional, printed in the notes)
      checked: false                            (optional: values not re-read from the paper; flagged)

A row whose jobs differ in more than the seed (a sweep inside one row, e.g. alemi2018/beta_sweep over
model.beta) gets one line per setting. A published metric of value null prints "–": the paper gives no number
(a figure) or it is not transcribed yet (`checked: false` says which). So a new table is YAML files only
(genbench/cli/table.py prints it when every job carries `published.metrics` or `published.finding`).
"""

from __future__ import annotations

import csv
import math
import statistics
import sys
from collections import defaultdict


def is_paper_table(jobs: list[dict]) -> bool:
    return bool(jobs) and all(isinstance(j.get("study"), dict) and "row" in j["study"]
                              and isinstance(j.get("published"), dict) for j in jobs)


def _stats(values: list[float]) -> tuple[float, float, int] | None:
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values:
        return None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)


def rows(jobs: list[dict]) -> tuple[list[str], list[dict]]:
    """(metric keys in published order, one dict per paper row in study order)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    several = len({job["study"].get("name") for job in jobs}) > 1
    for job in jobs:
        label = f"{job['study'].get('name')}: {job['study']['row']}" if several else job["study"]["row"]
        groups[label].append(job)
    lines: dict[str, list[dict]] = {}
    base: dict[str, str] = {}  # each line's paper row (a row split by its sweep keeps its label before the comma)
    for label, members in groups.items():
        for line, part in _split_swept(label, members).items():
            lines[line], base[line] = part, label
    keys: list[str] = []
    for job in jobs:
        keys += [k for k in (job["published"].get("metrics") or {}) if k not in keys]
    out = []
    order = lambda kv: (str(kv[1][0]["study"].get("name")), kv[1][0]["study"].get("order", 0))  # noqa: E731
    for row, members in sorted(lines.items(), key=order):
        published = members[0]["published"]
        counts: dict[str, int] = defaultdict(int)
        for job in members:
            counts[job["status"]] += 1
        done = [j for j in members if j["status"] == "completed"]
        cells = {}
        for key in keys:
            paper = (published.get("metrics") or {}).get(key)
            ours = _stats([j["final"].get(key) for j in done])
            diff = ours[0] - paper if ours and isinstance(paper, (int, float)) else None
            cells[key] = {"paper": paper, "paper_std": (published.get("std") or {}).get(key), "ours": ours,
                          "diff": diff}
        status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        out.append({"row": row, "base": base[row], "jobs": len(members), "status": status, "cells": cells,
                    "published": published, "caveats": _caveats(done, published)})
    return keys, out


def _split_swept(label: str, members: list[dict]) -> dict[str, list[dict]]:
    """One line per setting where a row's jobs differ in more than the seed (a row that is itself a sweep, e.g.
    alemi2018/beta_sweep's model.beta): "beta-VAE, model.beta=4", in the order the sweep ran them."""
    shared = set.intersection(*(set(j.get("overrides", [])) for j in members))
    out: dict[str, list[dict]] = {}
    for job in members:
        swept = " ".join(o for o in job.get("overrides", []) if o not in shared)
        out.setdefault(f"{label}, {swept}" if swept else label, []).append(job)
    return out


def _caveats(done: list[dict], published: dict) -> list[str]:
    """Why our numbers may not be comparable with the paper's (read from the jobs' metrics.json protocol)."""
    notes = []
    protocols = [j.get("protocol") or {} for j in done]
    datasets = sorted({p.get("dataset") for p in protocols if p.get("dataset")})
    if any(d.endswith("_standin") for d in datasets):
        notes.append(f"data: {', '.join(datasets)} (a synthetic stand-in, not the paper's data)")
    extractors = sorted({p.get("feature_extractor") for p in protocols if p.get("feature_extractor")})
    if extractors and extractors != ["inception"]:
        notes.append(f"features: {', '.join(extractors)} (the paper: Inception)")
    ours_n = sorted({p.get("n_samples") for p in protocols if p.get("n_samples")})
    if published.get("n_samples") and ours_n and ours_n != [published["n_samples"]]:
        notes.append(f"samples: {', '.join(map(str, ours_n))} (the paper: {published['n_samples']})")
    if published.get("checked") is False:
        if any(v is not None for v in (published.get("metrics") or {}).values()):
            notes.append("published values not re-checked against the paper")
        else:
            notes.append("no published number recorded: fill in published.metrics from the source")
    return notes


def _num(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _paper(cell: dict) -> str:
    if cell["paper"] is None:
        return "–"
    return _num(cell["paper"]) + (f" ± {_num(cell['paper_std'], 2)}" if cell["paper_std"] is not None else "")


def _ours(cell: dict) -> str:
    if cell["ours"] is None:
        return "–"
    mean, std, n = cell["ours"]
    return f"{_num(mean)} ± {_num(std, 2)} (n={n})" if n > 1 else f"{_num(mean)} (n=1)"


def _diff(cell: dict) -> str:
    return "–" if cell["diff"] is None else f"{cell['diff']:+.3g}"


def markdown(keys: list[str], table: list[dict]) -> str:
    header = ["row", "jobs", "status"]
    for key in keys:
        header += [f"{key} paper", f"{key} ours", "Δ"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table:
        mark = " *" if row["caveats"] else ""
        cells = [row["row"] + mark, str(row["jobs"]), row["status"]]
        for key in keys:
            cell = row["cells"][key]
            cells += [_paper(cell), _ours(cell), _diff(cell)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def notes(table: list[dict]) -> str:
    """Source, protocol, finding and caveats: once per paper row (the lines of a swept row share them)."""
    lines = []
    for row in table:
        siblings = [r for r in table if r["base"] == row["base"]]
        if row is not siblings[0]:
            continue
        caveats = list(dict.fromkeys(c for r in siblings for c in r["caveats"]))
        pub = row["published"]
        lines.append(f"- {row['base']}: {pub.get('source', 'source not stated')}"
                     + (f"; protocol: {pub['protocol']}" if pub.get("protocol") else ""))
        if pub.get("finding"):
            lines.append(f"  finding: {pub['finding']}")
        if pub.get("reference"):
            lines.append(f"  reference: {pub['reference']}")
        if caveats:
            lines.append(f"  * not comparable as is: {'; '.join(caveats)}")
    return "\n".join(lines)


def print_table(jobs: list[dict], sweep_dir, as_csv: bool) -> None:
    keys, table = rows(jobs)
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["row", "jobs", "status", "metric", "paper", "paper_std", "ours_mean", "ours_std", "ours_n",
                         "difference", "caveats"])
        for row in table:
            for key in keys:
                cell = row["cells"][key]
                mean, std, n = cell["ours"] or ("", "", 0)
                writer.writerow([row["row"], row["jobs"], row["status"], key, _blank(cell["paper"]),
                                 _blank(cell["paper_std"]), mean, std, n, _blank(cell["diff"]),
                                 "; ".join(row["caveats"])])
        return
    names = sorted({j["study"].get("name", "?") for j in jobs})
    print(f"{len(jobs)} jobs in {sweep_dir}: {', '.join(names)}; published value, ours (final, mean ± std over "
          "seeds), Δ = ours - paper\n")
    print(markdown(keys, table))
    print("\n" + notes(table))


def _blank(value):
    return "" if value is None else value
