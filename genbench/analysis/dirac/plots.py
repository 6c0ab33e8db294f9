"""Phase portraits of the Dirac-GAN: the gradient vector field over (theta, psi) with a trajectory,
as in Mescheder et al. 2018's figures, and a grid of many runs' portraits for a sweep."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench.plots import save_figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_phase_portrait(ax, grid, trajectory, title: str = "", extent: float | None = None) -> None:
    """Arrows of the field (unit length: the direction only), the trajectory in red, its start and end marked."""
    T, P, U, V = grid
    speed = np.hypot(U, V)
    scale = np.where(speed > 0, speed, 1.0)
    ax.quiver(T, P, U / scale, V / scale, color="tab:blue", alpha=0.6, pivot="mid", angles="xy", width=0.004)
    traj = np.asarray([(t, p) for _, t, p in trajectory], dtype=float)
    if len(traj):
        ax.plot(traj[:, 0], traj[:, 1], "-", color="tab:red", lw=1.2)
        ax.plot(*traj[0], "o", color="tab:red", ms=4)
        ax.plot(*traj[-1], "x", color="black", ms=6)
    ax.plot(0, 0, "*", color="gold", ms=10, markeredgecolor="black")
    lim = extent if extent is not None else float(np.abs(T).max())
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("theta (generator)")
    ax.set_ylabel("psi (discriminator, the paper's sign)")
    if title:
        ax.set_title(title, fontsize=8)


def phase_portrait_png(grid, trajectory, path: Path, title: str = "") -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    draw_phase_portrait(ax, grid, trajectory, title)
    save_figure(fig, path)


def combined_png(panels: dict[tuple[str, str], Path], rows: list[str], cols: list[str], path: Path) -> None:
    """Tile each (row, col) run's phase_portrait.png into one figure: methods down, update schemes across."""
    plt = _plt()
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(3 * len(cols), 3 * len(rows)), dpi=100, squeeze=False)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            ax.axis("off")
            if (r, c) in panels and Path(panels[r, c]).is_file():
                ax.imshow(plt.imread(str(panels[r, c])))
            if i == 0:
                ax.set_title(c, fontsize=10)
            if j == 0:
                ax.text(-0.05, 0.5, r, transform=ax.transAxes, rotation=90, ha="right", va="center", fontsize=10)
    save_figure(fig, path)
