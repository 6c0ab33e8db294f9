"""Dirac-GAN metrics (Mescheder et al. 2018), for dataset=dirac with model=dirac_gan.

A Lightning callback as well as a metric: it records the start point, then (theta, psi) after every generator
step from inside the module's loop (GenerativeModule.step_observers, so steps still go 25 to a Lightning batch),
and at each evaluation reports
  dirac/distance      ||(theta, psi)|| to the equilibrium (0, 0)  (the headline, lower is better)
  dirac/converged     1.0 or 0.0 by the rule below
  dirac/window_max    the largest distance over the rule's window
  dirac/theta, dirac/psi
  dirac/eig{1,2}_{re,im}  eigenvalues of the Jacobian of the gradient vector field at (0, 0), by autograd
                      through the module's own objectives (genbench.analysis.dirac.study states the sign convention)
and writes trajectory.csv (step, theta, psi) and phase_portrait.png into the run folder; theta and psi
are the paper's (genbench/nets/dirac.py). With train.order=g_first and n_critic > 1 a generator step
ends after its D steps, so each point is the state after a whole G step + n_d D steps, as in the notebook.

Verdict rule: converged when every recorded point of the last `window` fraction of the generator steps
(at least one point, the last) lies within `rtol` times the start point's distance of (0, 0). A spiral
out, a limit cycle or a run still on its way in all fail it; a NaN fails it.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import pytorch_lightning as pl

from genbench.analysis.dirac import study as dirac
from genbench.metrics.base import NO_CONTEXT, EvalContext

log = logging.getLogger("genbench")


def verdict(distances: list[float], window: float = 0.2, rtol: float = 0.1) -> tuple[bool, float]:
    """(converged, largest distance in the window) for distances[0] = start, distances[k] = after step k."""
    steps = len(distances) - 1
    first = max(1, steps - max(1, math.ceil(window * steps)) + 1) if steps else 0
    tail = distances[first:]
    worst = max(tail) if all(math.isfinite(d) for d in tail) else math.inf
    return worst <= rtol * distances[0], worst


class DiracMetric(pl.Callback):
    name = "dirac"
    headline = "dirac/distance"
    higher_is_better = False

    def __init__(self, window: float = 0.2, rtol: float = 0.1, grid: int = 21, extent: float = 2.0):
        self.window, self.rtol, self.grid, self.extent = float(window), float(rtol), int(grid), float(extent)
        self.trajectory: list[tuple[int, float, float]] = []
        self._eigenvalues: list[complex] | None = None

    def applies(self, data) -> bool:
        from genbench.analysis.dirac.data import DiracData

        return isinstance(data.dataset, DiracData)

    # ------------------------------------------------------------------ recording
    def on_train_start(self, trainer, module) -> None:
        self._record(module)
        if self._record not in module.step_observers:
            module.step_observers.append(self._record)

    def _record(self, module) -> None:
        if not self.trajectory or self.trajectory[-1][0] != module.g_step:
            self.trajectory.append((module.g_step, *dirac.state(module)))

    # ------------------------------------------------------------------ evaluation
    def __call__(self, samples, data, context: EvalContext = NO_CONTEXT) -> dict[str, float]:
        module = context.module
        self._record(module)  # the evaluation may run before this callback saw the step
        distances = [math.hypot(t, p) for _, t, p in self.trajectory]
        converged, worst = verdict(distances, self.window, self.rtol)
        if self._eigenvalues is None:
            self._eigenvalues = dirac.eigenvalues(module)
        _, theta, psi = self.trajectory[-1]
        row = {"dirac/distance": distances[-1], "dirac/converged": float(converged), "dirac/window_max": worst,
               "dirac/theta": theta, "dirac/psi": psi}
        for i, ev in enumerate(self._eigenvalues, 1):
            row[f"dirac/eig{i}_re"], row[f"dirac/eig{i}_im"] = ev.real, ev.imag
        if context.run_dir is not None:
            self.write(Path(context.run_dir), module, converged)
        return row

    def write(self, run_dir: Path, module, converged: bool) -> None:
        from genbench.analysis.dirac.plots import phase_portrait_png

        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "trajectory.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "theta", "psi"])
            writer.writerows(self.trajectory)
        title = (f"{module.updates}, n_critic {module.n_critic}: "
                 f"{'converged' if converged else 'not converged'} (step {module.g_step})")
        phase_portrait_png(dirac.field_grid(module, self.extent, self.grid), self.trajectory,
                           run_dir / "phase_portrait.png", title)
