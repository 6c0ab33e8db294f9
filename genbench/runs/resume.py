"""`resume=<run dir>`: re-run a run in its own folder with its own overrides, from its last checkpoint.

This rewrites the command line before Hydra sees it, so the resumed run composes exactly the config of the
original (plus what the user adds) and writes into the same folder, keeping its history. A resume continues
the *same* run: only the keys in RESUMABLE may change (a longer budget, logging, evaluation schedule, the
machine); any other difference (another model, a learning rate, a dataset) is refused before Hydra writes
anything, with one line naming the keys. The checkpoint itself carries the run's config identity (the digest
of everything but RESUMABLE), so a last.ckpt copied in from another run is refused too.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import yaml

from genbench.errors import ConfigError
from genbench.runs.run_dir import RunDir

# What a resumed run may change: how long it runs, what it logs and when it evaluates, and where it runs.
RESUMABLE = (
    "resume", "rerun", "logger", "train.max_steps", "train.steps_per_batch", "train.log_every", "train.sample_every",
    "train.checkpoint_every", "eval.every", "hardware.devices", "hardware.num_nodes", "hardware.threads",
    "hardware.accelerator", "hardware.strategy", "hardware.partition", "hardware.account", "hardware.qos",
    "hardware.time_min", "hardware.cpus_per_task", "hardware.mem_gb", "hardware.signal_delay_s",
    "hardware.max_requeues", "hardware.array_parallelism", "hardware.additional_parameters", "hardware.setup",
    "eval.cache_dir",
)


def _fail(message: str) -> None:
    print(f"genbench: error: {message}", file=sys.stderr)
    sys.exit(2)


def _resumable(key: str) -> bool:
    return any(key == r or key.startswith(r + ".") for r in RESUMABLE)


def _flat(node, prefix: str = "") -> dict:
    """{dotted key: value} of a nested config container (lists kept whole)."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def identity_of(container: dict) -> str:
    """The digest of a config (a plain container, interpolations unresolved) without its RESUMABLE keys."""
    kept = {k: v for k, v in _flat(container).items() if not _resumable(k)}
    return hashlib.sha256(repr(sorted(kept.items(), key=lambda kv: kv[0])).encode()).hexdigest()[:16]


def config_identity(cfg) -> str:
    from omegaconf import OmegaConf

    return identity_of(OmegaConf.to_container(cfg, resolve=False))


def changed_keys(saved: dict, new: dict) -> list[str]:
    """The keys (dotted) whose values differ between two configs, RESUMABLE ones left out."""
    a, b = _flat(saved), _flat(new)
    return sorted(k for k in set(a) | set(b) if not _resumable(k) and a.get(k, "<absent>") != b.get(k, "<absent>"))


def check_checkpoint(folder: RunDir, identity: str) -> None:
    """The run's last.ckpt must load and belong to this run (the identity stored in it when it was saved)."""
    from genbench.runs.checkpoint_io import CheckpointError, load_checkpoint

    try:
        ckpt = load_checkpoint(folder.last_ckpt)
    except CheckpointError as err:  # truncated, not a checkpoint, or holding objects genbench never stores
        raise ConfigError(f"resume={folder.path}: {folder.last_ckpt} cannot be read ({err}); the run is left as "
                          "it was") from None
    stored = (ckpt.get("genbench") or {}).get("config_identity")
    if stored is not None and stored != identity:
        raise ConfigError(f"resume={folder.path}: {folder.last_ckpt} was saved by a run of another configuration "
                          "(its config identity differs): it does not belong to this run; the run is left as it was")


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from genbench.runs.hparams import register_resolvers

    register_resolvers()
    hydra_free = [o for o in overrides if not o.lstrip("+~").startswith("hydra.")]
    with initialize_config_module(config_module="genbench.conf", version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="config", overrides=hydra_free), resolve=False)


def resume_overrides(argv: list[str]) -> list[str]:
    """Return argv with the original run's overrides and its folder added when `resume=` is given; refuse (exit 2)
    a resume that would change the run, and say so (exit 0) when a finished run is resumed without more steps."""
    resume = [a for a in argv if a.startswith("resume=")]
    if not resume or resume[-1] in ("resume=null", "resume="):
        return argv
    if "-m" in argv or "--multirun" in argv:
        _fail("resume=<run dir> continues one run; to continue a sweep, re-run the sweep command")
    folder = RunDir(Path(resume[-1].split("=", 1)[1]).expanduser().resolve())
    if not folder.saved_overrides.is_file():
        _fail(f"resume={folder.path}: not a genbench run folder (no .hydra/overrides.yaml); "
              "pass the folder of a run, e.g. outputs/<date>/<time>")
    if not folder.last_ckpt.is_file():
        _fail(f"resume={folder.path}: the run has no checkpoints/last.ckpt to continue from; start it again instead")
    original = yaml.safe_load(folder.saved_overrides.read_text()) or []
    keep = [o for o in original if not o.startswith(("resume=", "hydra.run.dir="))]
    rest = [a for a in argv if not a.startswith("resume=")]
    if any(a.startswith("-") for a in rest):  # --help, --cfg job, ...: no run, nothing to check
        return [*keep, *rest, f"resume={folder.path}", f"hydra.run.dir={folder.path}"]
    composed = [*keep, *[a for a in rest if not a.startswith("hydra.")], f"resume={folder.path}"]
    try:
        new = _compose(composed)
    except Exception as err:  # an unknown key or option: Hydra's own message, on one line
        _fail(f"resume={folder.path}: {str(err).splitlines()[0]}")
    if folder.saved_config.is_file():
        saved = yaml.safe_load(folder.saved_config.read_text()) or {}
        changed = changed_keys(saved, new)
        if changed:
            _fail(f"resume={folder.path}: a resumed run continues the same configuration, but these settings "
                  f"differ from the run's: {', '.join(changed[:8])}{', ...' if len(changed) > 8 else ''}. Only "
                  "the budget (train.max_steps), logging, the evaluation schedule and the hardware may change "
                  "on resume; start a new run (another hydra.run.dir) for other settings")
    _check_not_finished(folder, new)
    return [*keep, *rest, f"resume={folder.path}", f"hydra.run.dir={folder.path}"]


def _check_not_finished(folder: RunDir, new: dict) -> None:
    record = folder.read_json(folder.run_json) or {}
    status, steps = record.get("status"), int(record.get("generator_steps") or 0)
    budget = int((new.get("train") or {}).get("max_steps") or 0)
    if status == "diverged":
        _fail(f"resume={folder.path}: the run diverged at generator step {steps}; resuming would continue from its "
              "last finite checkpoint with the same settings. Start a new run with other settings instead")
    if status == "completed" and steps >= budget:
        print(f"genbench: {folder.path} is finished ({steps} of {budget} generator steps, completed); nothing to "
              f"do. To train it further, resume it with a larger budget: train.max_steps=<more than {steps}>")
        sys.exit(0)
