"""A sanity study's table (printed by `genbench-eval --study` and by `genbench-table <study folder>`)."""

from __future__ import annotations

from genbench.cli.render import markdown, num


def render(result: dict) -> str:
    p = result["protocol"]
    lines = [f"{result['study']} on {result['dataset']}: n = {p['n']} images per set, reference split "
             f"{p['reference_split']}, features: {p['feature_extractor']}, seed {p['seed']}"
             + (f"; contamination with {result['contaminated_with']}" if result.get("contaminated_with") else ""),
             ""]
    if result["study"] == "heusel2017":
        keys = [k for k in ("fid/value", "is/mean") if k in result["rows"][0]["metrics"]]
        header = ["disturbance", "level", *keys]
        body = [[r["disturbance"], f"{r['level']:g}", *(num(r["metrics"][k]) for k in keys)] for r in result["rows"]]
    else:
        keys = [k for k in ("is/mean", "fid/value", "prdc/precision", "prdc/recall", "birthday/dup_batch_fraction",
                            "birthday/support") if k in result["rows"][0]["metrics"]]
        header = ["set", *keys]
        body = [[r["set"], *(num(r["metrics"][k]) for k in keys)] for r in result["rows"]]
    lines.append(markdown(header, body))
    lines.append("")
    lines.append(f"published ({result['published']['source']}): {result['published']['finding']}")
    for f in result["findings"]:
        mark = "holds" if f["holds"] else "DOES NOT HOLD"
        detail = f" ({', '.join(k for k, v in f['detail'].items() if not v)} not monotone)" \
            if isinstance(f.get("detail"), dict) and any(not v for v in f["detail"].values()) else ""
        lines.append(f"- {f['claim']}: {mark} here{detail}")
    if result.get("figure"):
        lines.append(f"figure: {result['figure']}")
    return "\n".join(lines)
