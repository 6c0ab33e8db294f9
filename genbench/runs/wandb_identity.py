"""How a run shows in W&B: a readable name, tags to filter by, and the group of its sweep. Shared by the training
runs (genbench/runs/loggers.py) and the sweep's table run (genbench/cli/table_wandb.py), so that both land in the
same group."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

# Keys (and config groups under them) the name already shows or that pick the row: a sweep over them needs no suffix.
NAMED_KEYS = ("seed", "experiment", "model", "dataset", "reg")


def wandb_identity(cfg: DictConfig, swept: list[str] = ()) -> tuple[str, list[str]]:
    """A readable W&B run name and its tags. A paper-table row (`study:` in its experiment): `<paper>/<row>/s<seed>`,
    tagged paper, row and seed (a Dirac-GAN study cell: its method and update scheme); any other run:
    `<model>-<regs>-<dataset>-s<seed>`, tagged model, dataset, seed and each regularizer. `swept`: the job's settings
    its sweep varies (besides those the name shows), appended as ` (k=v ...)` so a sweep's jobs differ by name.
    logger.wandb.tags are added to these."""
    study = cfg.get("study") or {}
    seed = f"seed={cfg.seed}"
    row = study.get("row") or study.get("method")  # the Dirac-GAN study: a method under an update scheme
    if study.get("name") and row:
        cell = f"{row}, {study.scheme}" if study.get("scheme") else str(row)
        name = f"{study.name}/{cell}/s{cfg.seed}"
        tags = [f"paper={study.name}", f"row={row}", seed, *([f"scheme={study.scheme_key}"] if study.get("scheme_key")
                                                             else [])]
    else:
        model = OmegaConf.select(cfg, "model.name", default="model")
        regs = [str(r) for r in (cfg.get("reg") or {})]
        name = "-".join([str(model), *regs, str(cfg.dataset.name), f"s{cfg.seed}"])
        tags = [f"model={model}", f"dataset={cfg.dataset.name}", seed, *(f"reg={r}" for r in regs)]
    shown = [s for s in swept if _key(s).split("/")[0] not in NAMED_KEYS]
    if shown:
        name += f" ({' '.join(shown)})"
    return name, tags


def wandb_group(cfg: DictConfig, sweep_dir: str | Path | None) -> str | None:
    """logger.wandb.group, else the sweep folder's name (None outside a sweep). Paper tables keep their sweeps in
    outputs/tables/<paper>/<dataset>-<budget>: the group is then `<paper>/<dataset>-<budget>`, since the folder's
    name alone (e.g. mnist-smoke) is the same for every paper."""
    group = OmegaConf.select(cfg, "logger.wandb.group", default=None)
    if group or not sweep_dir:
        return group
    sweep = Path(sweep_dir)
    paper = OmegaConf.select(cfg, "study.name", default=None)
    return f"{paper}/{sweep.name}" if paper and sweep.parent.name == paper else sweep.name


def swept_settings(job_overrides: list[str], sweep_dir: str | Path, sweeper_params: dict | None) -> list[str]:
    """The job's overrides whose keys its sweep varies: the sweeper's `params` (an experiment's or a search's) and
    the command line's sweeps (`k=a,b`, `k=range(...)`), as Hydra saved it in <sweep dir>/multirun.yaml."""
    keys = set(sweeper_params or {})
    saved = Path(sweep_dir) / "multirun.yaml"
    if saved.is_file():
        from hydra.core.override_parser.overrides_parser import OverridesParser

        cli = ((yaml.safe_load(saved.read_text()) or {}).get("hydra") or {}).get("overrides", {}).get("task") or []
        keys |= {o.key_or_group for o in OverridesParser.create().parse_overrides(cli) if o.is_sweep_override()}
    return [o for o in job_overrides if _key(o) in keys]


def _key(override: str) -> str:
    """The key or config group an override sets (`+a.b@pkg=v` -> a.b)."""
    return override.split("=", 1)[0].lstrip("+~").split("@", 1)[0]


STEP = re.compile(r"^(?P<name>.*?)_?step_(?P<step>\d+)$")


def figure_key(run_dir: Path, path: Path) -> tuple[str, int | None]:
    """(W&B key, step or None) of a picture in a run folder (or a sweep folder: genbench-table's figures):
    samples/step_500.png -> samples at step 500, metrics/gs_step_500.png -> metrics/gs, <folder>/x.png ->
    figures/x. One key per kind of picture, so pictures of different sizes never share one."""
    relative = path.relative_to(run_dir)
    match = STEP.match(path.stem)
    name, step = (match["name"], int(match["step"])) if match else (path.stem, None)
    folder = relative.parent.as_posix()
    if folder == ".":
        return f"figures/{name}", step
    return (f"{folder}/{name}" if name else folder), step
