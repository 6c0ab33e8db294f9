"""The disturbance study's figure, as Heusel et al.'s: one panel per disturbance, FID (left axis) and IS (right
axis) against the level."""

from __future__ import annotations

from pathlib import Path

from genbench.plots import save_figure


def disturbance_figure(rows: list[dict], path: Path, subtitle: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["disturbance"] for r in rows))
    cols = 3
    fig, axes = plt.subplots((len(names) + cols - 1) // cols, cols, figsize=(4.2 * cols, 3.2 * ((len(names) + 2) // 3)),
                             squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        own = [r for r in rows if r["disturbance"] == name]
        levels = [r["level"] for r in own]
        ax.plot(levels, [r["metrics"]["fid/value"] for r in own], "o-", color="tab:red", label="FID")
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("level")
        ax.set_ylabel("FID", color="tab:red")
        if "is/mean" in own[0]["metrics"]:
            twin = ax.twinx()
            twin.plot(levels, [r["metrics"]["is/mean"] for r in own], "s--", color="tab:blue", label="IS")
            twin.set_ylabel("IS", color="tab:blue")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"Heusel et al. 2017's disturbances: FID (red) and IS (blue) against the level; {subtitle}")
    save_figure(fig, path, dpi=90)
    return path
