"""genbench-table's figures in W&B too: when a sweep's jobs logged to W&B, the pictures genbench-table draws into
the sweep folder (the Dirac-GAN study's phase_portraits.png, a VAE sweep's rate_distortion.png) are logged, under
figures/<name>, to one W&B run of job_type `table` in the jobs' group, named `<group>/table`. Its id is kept in
<sweep dir>/wandb/table_run_id, so running genbench-table again resumes that run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from omegaconf import OmegaConf

from genbench.runs.wandb_identity import figure_key, wandb_group


def wandb_job(jobs: list[dict]) -> dict | None:
    """The first job that logged to W&B (run.json has its wandb_id; its logger.wandb says how), else None."""
    for job in jobs:
        w = ((job["config"].get("logger") or {}).get("wandb")) or {}
        if job.get("wandb_id") and w.get("mode", "disabled") != "disabled":
            return job
    return None


def log_figures(sweep_dir: Path, jobs: list[dict]) -> str | None:
    """Log the sweep folder's pictures to the table run; returns its W&B name (None: the jobs did not use W&B, or
    there is no picture)."""
    job = wandb_job(jobs)
    figures = sorted(sweep_dir.glob("*.png"))
    if job is None or not figures:
        return None
    cfg = OmegaConf.create(job["config"])
    w = cfg.logger.wandb
    os.environ["WANDB_MODE"] = w.mode
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    out = sweep_dir / "wandb"
    out.mkdir(exist_ok=True)
    id_file = out / "table_run_id"
    run_id = id_file.read_text().strip() if id_file.is_file() else os.urandom(4).hex()
    id_file.write_text(run_id + "\n")
    group = wandb_group(cfg, sweep_dir)
    paper = OmegaConf.select(cfg, "study.name", default=None)
    run = wandb.init(dir=str(sweep_dir), project=w.project, entity=w.entity, group=group, job_type="table",
                     name=f"{group}/table", tags=[*([f"paper={paper}"] if paper else []), "table", *w.tags],
                     notes=f"genbench-table {sweep_dir}", id=run_id, resume="allow", mode=w.mode)
    run.log({figure_key(sweep_dir, path)[0]: wandb.Image(str(path)) for path in figures})
    run.finish()
    print(f"genbench-table: W&B run {run.name!r} ({w.mode}) holds {', '.join(p.name for p in figures)}",
          file=sys.stderr)
    return f"{group}/table"
