"""Paper tables in `genbench-table`: one row per paper row (seeds folded), each published number beside our
mean ± std over seeds and the difference, a Δ only where the two are comparable, and stated findings checked.
The `study:` / `published:` keys a row's config carries and what makes a row comparable: docs/paper-tables.md,
"Adding a table"."""

from __future__ import annotations

import sys

from genbench.cli import render

# How the table names a setting of `published.setup` (generic config keys; any other key prints as itself).
SETTING_NAMES = {
    "train.max_steps": "training length (generator steps)",
    "eval.n": "samples",
    "metrics.nll.k": "importance samples k",
    "metrics.nll.n": "test images (NLL)",
    "metrics.elbo.n": "test images (ELBO)",
    "metrics.gs.n": "landmark draws",
    "metrics.kid.subset_size": "KID subset size",
}


FEATURE_METRICS = ("fid", "kid", "is", "prdc")  # a published value of these depends on the feature network


def is_paper_table(jobs: list[dict]) -> bool:
    return bool(jobs) and all(isinstance(j.get("study"), dict) and "row" in j["study"]
                              and isinstance(j.get("published"), dict) for j in jobs)


def rows(jobs: list[dict]) -> tuple[list[str], list[dict]]:
    """(metric keys in published order, one dict per table line in study order)."""
    groups: dict[str, list[dict]] = {}
    several = len({job["study"].get("name") for job in jobs}) > 1
    for job in jobs:
        label = f"{job['study'].get('name')}: {job['study']['row']}" if several else job["study"]["row"]
        groups.setdefault(label, []).append(job)
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
        done = render.completed(members)
        reasons = not_comparable(members, published)
        cells = {}
        for key in keys:
            paper = (published.get("metrics") or {}).get(key)
            ours = render.mean_std([j["final"].get(key) for j in done])
            comparable = ours is not None and isinstance(paper, (int, float)) and not reasons
            cells[key] = {"paper": paper, "paper_std": (published.get("std") or {}).get(key), "ours": ours,
                          "diff": ours[0] - paper if comparable else None}
        out.append({"row": row, "base": base[row], "jobs": len(members), "status": render.status_counts(members),
                    "cells": cells, "published": published, "members": members, "reasons": reasons})
    verdicts = findings(out)
    for row in out:
        row["finding"] = verdicts.get(row["base"])
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


# ----------------------------------------------------------------------------------------- comparability


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _select(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _plain(values) -> str:
    return ", ".join(f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v) for v in values)


def not_comparable(members: list[dict], published: dict) -> list[str]:
    """Why our numbers cannot be set against the paper's, one reason per difference; [] when they can. Settings
    come from the jobs' configs, data and features from their metrics.json protocol."""
    reasons = []
    for key, protocol in _flatten(published.get("setup") or {}).items():
        ours = sorted({_select(j.get("config") or {}, key) for j in members}, key=str)
        if ours != [protocol]:
            reasons.append(f"{SETTING_NAMES.get(key, key)} {_plain(ours)} (the protocol: {_plain([protocol])})")
    protocols = [j.get("protocol") or {} for j in render.completed(members)]
    datasets = sorted({p.get("dataset") for p in protocols if p.get("dataset")})
    if any(d.endswith("_standin") for d in datasets):
        reasons.append(f"data: {', '.join(datasets)} (a synthetic stand-in, not the paper's data)")
    extractors = sorted({p.get("feature_extractor") for p in protocols if p.get("feature_extractor")})
    published_features = any(isinstance(v, (int, float)) and k.split("/")[0] in FEATURE_METRICS
                             for k, v in (published.get("metrics") or {}).items())
    if extractors and extractors != ["inception"] and published_features:
        reasons.append(f"features: {', '.join(extractors)} (the paper: Inception)")
    return reasons


def _unchecked(published: dict) -> str | None:
    if published.get("checked") is not False:
        return None
    if any(v is not None for v in (published.get("metrics") or {}).values()):
        return "published values not re-checked against the paper"
    return "no published number recorded: fill in published.metrics from the source"


# ----------------------------------------------------------------------------------------- findings


def findings(table: list[dict]) -> dict[str, str]:
    """{paper row: verdict} for each row whose `published.check` tests its finding on our runs (means over the
    completed seeds): "yes: ...", "no: ..." or "not checked: ..."; a row with a finding but no check says so."""
    verdicts = {}
    for row in table:
        pub, base = row["published"], row["base"]
        if base in verdicts or not (pub.get("finding") or pub.get("check")):
            continue
        checks = pub.get("check") or []
        checks = [checks] if isinstance(checks, dict) else list(checks)
        if not checks:
            verdicts[base] = "not checked: the row records no `check:` for its finding"
            continue
        results = [_check(c, base, table) for c in checks]
        word = "no" if any(r[0] == "no" for r in results) else "not checked" if any(
            r[0] == "not checked" for r in results) else "yes"
        verdicts[base] = f"{word}: " + "; ".join(r[1] for r in results)
    return verdicts


def _members(table: list[dict], base: str) -> list[dict]:
    return [job for row in table if row["base"] == base for job in row["members"]]


def _spread(a: render.Stats, b: render.Stats) -> str:
    """A note when two means differ by less than the larger seed std: the order may be chance."""
    return " (within the seed spread)" if max(a[2], b[2]) > 1 and abs(a[0] - b[0]) <= max(a[1], b[1]) else ""


def _check(check: dict, base: str, table: list[dict]) -> tuple[str, str]:
    metric = check.get("metric")
    mine = render.mean_std([j["final"].get(metric) for j in render.completed(_members(table, base))])
    name = base.split(": ", 1)[-1]
    if "lower_than" in check or "higher_than" in check:
        lower = "lower_than" in check
        other_row = check["lower_than" if lower else "higher_than"]
        paper = _members(table, base)[0]["study"].get("name")
        other = next((r["base"] for r in table if r["members"][0]["study"]["row"] == other_row
                      and r["members"][0]["study"].get("name") == paper), None)
        theirs = render.mean_std([j["final"].get(metric) for j in render.completed(_members(table, other or ""))])
        if mine is None or theirs is None:
            return "not checked", f"{metric}: no completed run of {name if mine is None else other_row}"
        holds = mine[0] < theirs[0] if lower else mine[0] > theirs[0]
        sign = ("<" if mine[0] < theirs[0] else ">" if mine[0] > theirs[0] else "=")
        return ("yes" if holds else "no",
                f"{metric} {name} {render.num(mine[0])} {sign} {other_row} {render.num(theirs[0])}"
                + _spread(mine, theirs))
    if "highest" in check or "lowest" in check:
        high = "highest" in check
        means = {r["base"]: render.mean_std([j["final"].get(metric) for j in render.completed(_members(table,
                                                                                                 r["base"]))])
                 for r in table}
        means = {b: s for b, s in means.items() if s is not None}
        if mine is None or len(means) < 2:
            return "not checked", f"{metric}: fewer than two rows with completed runs"
        best = (max if high else min)(means, key=lambda b: means[b][0])
        text = f"{metric} {'highest' if high else 'lowest'}: {best.split(': ', 1)[-1]} {render.num(means[best][0])}"
        return ("yes" if best == base else "no", text)
    for word in ("falls_with", "rises_with"):
        if word in check:
            return _monotone(metric, check[word], word == "falls_with", base, table)
    return "not checked", f"unknown check {check}"


def _monotone(metric: str, key: str, falls: bool, base: str, table: list[dict]) -> tuple[str, str]:
    """Does the row's metric fall (or rise) strictly along the swept config key? Means per setting."""
    points = []
    for row in (r for r in table if r["base"] == base):
        done = render.completed(row["members"])
        stats = render.mean_std([j["final"].get(metric) for j in done])
        at = {_select(j.get("config") or {}, key) for j in row["members"]}
        if stats is not None and len(at) == 1 and isinstance(next(iter(at)), (int, float)):
            points.append((next(iter(at)), stats))
    points.sort(key=lambda p: p[0])
    if len(points) < 2:
        return "not checked", f"{metric}: fewer than two settings of {key} with completed runs"
    along = ", ".join(render.num(s[0], 3) for _, s in points)
    at = ", ".join(render.num(x, 3) for x, _ in points)
    for (x0, s0), (x1, s1) in zip(points, points[1:], strict=False):
        if (s1[0] >= s0[0]) if falls else (s1[0] <= s0[0]):
            return "no", (f"{metric} {'rises' if falls else 'falls'} from {key}={render.num(x0)} to "
                          f"{render.num(x1)} ({render.num(s0[0])} -> {render.num(s1[0])}){_spread(s0, s1)}")
    return "yes", f"{metric} {along} at {key} = {at}"


# ----------------------------------------------------------------------------------------- output


def _paper(cell: dict, published: dict) -> str:
    if cell["paper"] is None:
        return "–"
    text = render.num(cell["paper"])
    text += f" ± {render.num(cell['paper_std'], 2)}" if cell["paper_std"] is not None else ""
    return text + (" (unchecked)" if published.get("checked") is False else "")


def _diff(cell: dict) -> str:
    return "–" if cell["diff"] is None else f"{cell['diff']:+.3g}"


def markdown(keys: list[str], table: list[dict]) -> str:
    with_findings = any(row["finding"] for row in table)
    header = ["row", "jobs", "status"]
    for key in keys:
        header += [f"{key} paper", f"{key} ours", "Δ"]
    header += ["comparable"] + (["finding holds"] if with_findings else [])
    lines, shown = [], set()
    for row in table:
        cells = [row["row"] + (" *" if row["reasons"] else ""), str(row["jobs"]), row["status"]]
        for key in keys:
            cell = row["cells"][key]
            cells += [_paper(cell, row["published"]), render.fmt_stats(cell["ours"], show_n=True), _diff(cell)]
        cells.append("no: " + "; ".join(row["reasons"]) if row["reasons"] else "yes")
        if with_findings:  # once per paper row (its first line)
            cells.append(row["finding"] or "–" if row["base"] not in shown else "″")
            shown.add(row["base"])
        lines.append(cells)
    return render.markdown(header, lines)


def notes(table: list[dict]) -> str:
    """Source, protocol, finding and its check, caveats: once per paper row (the lines of a swept row share them)."""
    lines = []
    for row in table:
        siblings = [r for r in table if r["base"] == row["base"]]
        if row is not siblings[0]:
            continue
        reasons = list(dict.fromkeys(c for r in siblings for c in r["reasons"]))
        pub = row["published"]
        lines.append(f"- {row['base']}: {pub.get('source', 'source not stated')}"
                     + (f"; protocol: {pub['protocol']}" if pub.get("protocol") else ""))
        if pub.get("finding"):
            lines.append(f"  finding: {pub['finding']}")
            lines.append(f"  our runs agree: {row['finding']}")
        if pub.get("reference"):
            lines.append(f"  reference: {pub['reference']}")
        if _unchecked(pub):
            lines.append(f"  note: {_unchecked(pub)}")
        if reasons:
            lines.append(f"  * not comparable, no Δ: {'; '.join(reasons)}")
    return "\n".join(lines)


def print_table(jobs: list[dict], sweep_dir, as_csv: bool) -> list[dict]:
    """Print the table (Markdown with notes, or CSV with one line per row and metric); returns its rows."""
    keys, table = rows(jobs)
    if as_csv:
        header = ["row", "jobs", "status", "metric", "paper", "paper_std", "ours_mean", "ours_std", "ours_n",
                  "difference", "comparable", "caveats", "finding_holds"]
        lines = []
        for row in table:
            for key in keys:
                cell = row["cells"][key]
                mean, std, n = cell["ours"] or (None, None, 0)
                lines.append([row["row"], row["jobs"], row["status"], key, cell["paper"], cell["paper_std"], mean,
                              std, n, cell["diff"], "no" if row["reasons"] else "yes", "; ".join(row["reasons"]),
                              row["finding"]])
        render.write_csv(header, lines, sys.stdout)
        return table
    names = sorted({j["study"].get("name", "?") for j in jobs})
    print(f"{render.count(len(jobs), 'job')} in {sweep_dir}: {', '.join(names)}; published value, ours (final, "
          "mean ± std over seeds), Δ = ours - paper; a starred row is not comparable: no Δ, the column comparable "
          "says why\n")
    print(markdown(keys, table))
    print("\n" + notes(table))
    return table
