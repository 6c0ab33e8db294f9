"""`genbench-eval <run dir | checkpoint> [overrides]`: evaluate a finished run after training.

The run's own overrides are composed again (so the data, networks and protocol match), the command
line's are added on top (e.g. `metrics=[modes] eval.n=10000`), the checkpoint's generator (its EMA
when there is one) draws `eval.n` samples, and the results are appended to `<run dir>/eval.json`.
`--real-vs-real` evaluates held-out real data (the test split) instead of generated samples: the floor
of each metric under the same protocol.

`genbench-eval --study heusel2017|is_blind_spots [overrides]` runs a metric sanity study on real images instead
(no run folder; genbench/analysis/sanity, docs/metrics.md): its table, findings and figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

from genbench.errors import GenbenchError
from genbench.runs import startup_gc
from genbench.runs.overrides import experiment_overrides
from genbench.runs.run_dir import RunDir


def _locate(target: Path) -> tuple[Path, Path]:
    """(run dir, checkpoint) from a run folder or a checkpoint file inside one."""
    if target.is_file():
        run_dir = target.parent.parent if target.parent == RunDir(target.parent.parent).checkpoints else target.parent
        return run_dir, target
    folder = RunDir(target)
    for ckpt in (folder.best_ckpt, folder.last_ckpt):
        if ckpt.is_file():
            return target, ckpt
    raise GenbenchError(f"{target}: no checkpoints/best.ckpt or last.ckpt; pass a genbench run folder or a .ckpt")


def compose(run_dir: Path, overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    saved = RunDir(run_dir).saved_overrides
    if not saved.is_file():
        raise GenbenchError(f"{run_dir}: not a genbench run folder (no .hydra/overrides.yaml)")
    original = experiment_overrides(yaml.safe_load(saved.read_text()) or [])
    from hydra.errors import HydraException

    with initialize_config_module(config_module="genbench.conf", version_base="1.3"):
        original = _drop_unchosen_entries(original, overrides, hydra_compose(config_name="config",
                                                                             overrides=original))
        try:
            return hydra_compose(config_name="config", overrides=[*original, *overrides])
        except HydraException as err:  # an unknown or moved key on the command line: one line
            from genbench.cli.errors import describe_hydra_error

            raise GenbenchError(describe_hydra_error(err, overrides)) from None


def _drop_unchosen_entries(original: list[str], overrides: list[str], cfg) -> list[str]:
    """The run's overrides of a metric or regularizer entry (`metrics.gs.n=10`) cannot apply once the command
    line chooses other entries (`metrics=[nll]`): they are dropped, keeping those of the entries still chosen."""
    from omegaconf import DictConfig

    kept = list(original)
    for group in ("metrics", "reg"):
        choices = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == group]
        if not choices:
            continue
        chosen = {c.strip() for c in choices[-1].strip("[]").split(",")}
        entries = {k for k, v in (cfg.get(group) or {}).items() if isinstance(v, DictConfig) and "_target_" in v}
        stale = entries - chosen
        kept = [o for o in kept if not (o.startswith(f"{group}.") and o.split("=", 1)[0].split(".")[1] in stale)]
    return kept


def evaluate(target: Path, overrides: list[str], real_vs_real: bool = False) -> dict:
    run_dir, ckpt = _locate(target)
    cfg = compose(run_dir, overrides)
    from genbench.runs.config_checks import check_config

    check_config(cfg)
    from genbench import progress

    progress.configure(cfg.get("progress"))
    from genbench.runs.checkpoint_io import load_checkpoint

    state = load_checkpoint(ckpt)  # weights_only, and first: a bad checkpoint fails before Lightning is imported
    import torch

    from genbench.metrics.choice import choose_for
    from genbench.runs.train import build_datamodule, build_module

    torch.manual_seed(cfg.seed)
    data = build_datamodule(cfg)
    data.setup("fit")
    module = build_module(cfg, data.shape)
    try:
        module.load_state_dict(state["state_dict"])
    except RuntimeError as err:
        raise GenbenchError(f"{ckpt} does not fit the composed model ({str(err).splitlines()[0][:160]}): "
                            "overrides that change the networks cannot apply to a trained run") from None
    from genbench.metrics.defaults import previous_extractor

    choice = choose_for(cfg, data, monitored=False, previous=previous_extractor(run_dir))  # no checkpoint to select
    startup_gc.settle()
    metrics = list(choice.metrics)
    if not metrics:
        raise GenbenchError(f"none of the chosen metrics applies to dataset {cfg.dataset.name}; "
                            "choose others with metrics=[...]")
    choice.prepare(data)
    n = cfg.eval.n
    if not any(getattr(m, "needs_samples", True) for m in metrics):
        samples = None  # e.g. elbo, nll: they read the encoder and decoder, not generated samples
    elif real_vs_real:
        samples = module.to_model_space(data.real_samples(n, "test"))
    else:
        samples = module.sample(n)
    from genbench.metrics.base import EvalContext

    context = EvalContext(module=module)  # no pictures: eval.json holds the numbers
    results: dict[str, float] = {}
    for metric in metrics:
        results.update(metric(samples, data, context))
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "checkpoint": str(ckpt),
        "generator_step": state.get("genbench", {}).get("g_step"),
        "generator": _which_samples(module, samples, real_vs_real),
        "n_samples": 0 if samples is None else n,
        **({"feature_extractor": choice.record["feature_extractor"]} if "feature_extractor" in choice.record else {}),
        "overrides": overrides,
        "metrics": results,
    }
    path = RunDir(run_dir).eval_json
    try:
        history = json.loads(path.read_text()) if path.is_file() else []
    except json.JSONDecodeError as err:
        raise GenbenchError(f"{path} is not valid JSON ({err}): move it aside to start a new history") from None
    history.append(entry)
    RunDir.write_json(path, history)
    return entry


def _which_samples(module, samples, real_vs_real: bool) -> str:
    if samples is None:
        return "none (the metrics read the model on held-out data)"
    if real_vs_real:
        return "real test split"
    return "ema" if getattr(module, "generator_ema", None) is not None else "raw"


def _study(name: str, overrides: list[str], out: Path | None) -> int:
    from genbench.analysis.sanity import studies
    from genbench.analysis.sanity.table import render

    startup_gc.settle()  # imported: the study's own work runs with the collector on
    result, folder = studies.run(name, overrides, out)
    print(render(result))
    print(f"results: {folder / 'results.json'} ({result['wall_time_s']} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    with startup_gc.paused():  # until the model (or a study's code) is loaded (genbench/runs/startup_gc.py)
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="genbench-eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", help="a run folder (uses best.ckpt, else last.ckpt) or a .ckpt file")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. metrics=[modes] eval.n=10000")
    parser.add_argument("--real-vs-real", action="store_true",
                        help="evaluate the real test split against the training data: the metric's floor")
    parser.add_argument("--study", metavar="NAME",
                        help="a metric sanity study on real images, no run folder: heusel2017 or is_blind_spots")
    parser.add_argument("--out", type=Path, help="--study: its folder (default outputs/studies/<study>-<dataset>)")
    args = parser.parse_intermixed_args(argv)  # options and overrides in any order
    from hydra.errors import HydraException

    try:
        from genbench.cli.added_keys import check_added_keys

        if args.study is not None:  # the first positional is an override then
            overrides = [*([args.target] if args.target else []), *args.overrides]
        else:
            overrides = args.overrides
        refused = check_added_keys(overrides)
        if refused:
            raise GenbenchError(refused)
        if args.study is not None:
            return _study(args.study, overrides, args.out)
        if args.target is None:
            raise GenbenchError("give a run folder or checkpoint to evaluate (or --study NAME for a sanity study)")
        entry = evaluate(Path(args.target), args.overrides, args.real_vs_real)
    except GenbenchError as err:
        print(f"genbench-eval: error: {err}", file=sys.stderr)
        return 2
    except HydraException as err:  # an override Hydra cannot apply (metrics.nn=5, metrics=[fidd])
        from genbench.cli.errors import describe_hydra_error

        print(f"genbench-eval: error: {describe_hydra_error(err, args.overrides)}", file=sys.stderr)
        return 2
    width = max(len(k) for k in entry["metrics"])
    what = f"{entry['generator']} samples (n={entry['n_samples']})" if entry["n_samples"] else "held-out data"
    print(f"{what} from {entry['checkpoint']}, generator step {entry['generator_step']}:")
    for key, value in entry["metrics"].items():
        print(f"  {key:<{width}}  {value:.6g}")
    print(f"appended to {Path(entry['checkpoint']).parent.parent / 'eval.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
