"""Checks on the composed config that catch bad values before any data is read or net is built.

Each failure raises ConfigError with one line naming the key, the value and what would be accepted.
Only OmegaConf is needed here, so a bad command fails in well under a second.
"""

from __future__ import annotations

import importlib
import math
import re
import sys

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from genbench.errors import ConfigError
from genbench.runs.moved_keys import moved_message, new_key
from genbench.runs.validate import is_number, positive_int

PRECISIONS = ("32-true", "32", "64-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true")
WANDB_MODES = ("offline", "online", "disabled")
FAMILIES = ("gan", "vae", "ebm", "gmm", "nce", "autoregressive")
DENSITY_FAMILIES = ("gmm", "nce", "autoregressive")  # their own objective: no loss=, no reg=
FAMILY_CHECKS = {  # each family's own option checks, "module:function"
    "gan": "genbench.gan.checks:check_gan", "vae": "genbench.vae.checks:check_vae",
    "ebm": "genbench.ebm.checks:check_ebm", "gmm": "genbench.density.checks:check_density",
    "nce": "genbench.density.checks:check_density",
    "autoregressive": "genbench.autoregressive.checks:check_autoregressive",
}
FAMILY_NAMES = {"autoregressive": "autoregressive model"}  # in messages; the others by their acronym
AN = ("ebm", "nce", "autoregressive")  # 'an EBM', 'an NCE': the article goes by the sound


def family_name(family: str, article: bool = False, plural: bool = False) -> str:
    """'GAN', 'a GAN', 'GANs', 'an autoregressive model': a family as the error messages name it."""
    name = FAMILY_NAMES.get(family, family.upper())
    if plural:
        return name + "s"
    return ("an " if family in AN else "a ") + name if article else name
MAX_SEED = 2**32 - 1  # numpy's (and so Lightning's seed_everything's) range
GPU_ACCELERATORS = ("gpu", "cuda")


# What submitit writes into the sbatch script as `#SBATCH --<key>=<value>` lines (hardware=slurm): a newline in
# a value would end its line and start another, an option or shell line the user never meant. Names of
# partitions, accounts and QOS; constraint expressions; other sbatch options' keys and values (submitit
# shell-quotes the values, so a space is harmless there).
SLURM_NAME = re.compile(r"[A-Za-z0-9_.,+-]+")
SLURM_CONSTRAINT = re.compile(r"[A-Za-z0-9_.,:&|*!\[\]()-]+")
SLURM_OPTION = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
SLURM_VALUE = re.compile(r"[A-Za-z0-9_.,:;=@%+/&|*!~\[\]() -]*")
SLURM_NAMES = {"partition": ("a partition", "gpu"), "account": ("an account", "myproj"), "qos": ("a QOS", "normal")}


def _slurm_value(key: str, value, pattern: re.Pattern, what: str, example: str) -> None:
    if value is None or isinstance(value, bool) or (isinstance(value, (int, float)) and math.isfinite(value)):
        return
    if not isinstance(value, str):
        raise ConfigError(f"{key}={value!r} must be a string: give {what}, e.g. {example}")
    if pattern.fullmatch(value):
        return
    if "\n" in value or "\r" in value:
        problem = "holds a line break, which would end its #SBATCH line in the job script and start another"
    else:
        bad = next(c for c in value if not pattern.fullmatch(c))
        problem = f"holds {bad!r}, which this sbatch option does not take"
    raise ConfigError(f"{key}={value!r} {problem}: give {what}, e.g. {example}")


def check_scheduler(cfg: DictConfig, prefix: str = "hardware") -> None:
    """The SLURM fields of hardware=slurm (or of hydra.launcher, prefix="hydra.launcher") hold no line break and
    only the characters their sbatch options take; setup lines are shell but one line each."""
    node = OmegaConf.select(cfg, prefix)
    if not isinstance(node, DictConfig):
        return
    for name, (what, example) in SLURM_NAMES.items():
        if name in node:
            _slurm_value(f"{prefix}.{name}", node[name], SLURM_NAME, f"{what} name (letters, digits, _ . , + -)",
                         f"{prefix}.{name}={example}")
    extra = node.get("additional_parameters")
    if extra is not None:
        if not isinstance(extra, DictConfig):
            raise ConfigError(f"{prefix}.additional_parameters={extra!r} must be a mapping of sbatch options, "
                              f"e.g. +{prefix}.additional_parameters.constraint=a100")
        for option, value in extra.items():
            key = f"{prefix}.additional_parameters"
            if not SLURM_OPTION.fullmatch(str(option)):
                raise ConfigError(f"{key} has the option {str(option)!r}: an sbatch option name is letters, digits, "
                                  f"- and _ (no line break, no leading --), e.g. +{key}.mail-type=END")
            if option == "constraint":
                _slurm_value(f"{key}.{option}", value, SLURM_CONSTRAINT,
                             "a constraint expression (features joined by & | , with [] () * !)",
                             f"+{key}.constraint=a100")
            else:
                _slurm_value(f"{key}.{option}", value, SLURM_VALUE,
                             "one line of letters, digits, spaces and _ . , : ; = @ % + / & | * ! ~ [ ] ( ) -",
                             f"+{key}.{option}=<value>")
    setup = node.get("setup")
    if setup is not None:
        if not isinstance(setup, ListConfig):
            raise ConfigError(f"{prefix}.setup={setup!r} must be a list of shell lines, "
                              f"e.g. {prefix}.setup='[\"module load cuda\"]'")
        for i, line in enumerate(setup):
            if not isinstance(line, str) or "\n" in line or "\r" in line:
                raise ConfigError(f"{prefix}.setup[{i}]={line!r} must be one shell line (no line break): give each "
                                  f"command its own list item, e.g. {prefix}.setup='[\"module load cuda\",\"source "
                                  "venv/bin/activate\"]'")


class SchedulerCheck(Callback):
    """hardware=slurm's Hydra callback: check the SLURM fields before the launcher writes any sbatch script (the
    jobs' own check_config runs only once they started, too late for a line that breaks the script)."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            check_scheduler(config)
            check_scheduler(config, "hydra.launcher")
        except ConfigError as err:
            print(f"genbench: error: {err}", file=sys.stderr)
            sys.exit(2)


def _group_options(group: str, family: str) -> list[str]:
    """The options of a config group (loss, metrics) whose YAML belongs to `family` (no `family:` key: gan)."""
    from importlib.resources import files

    names = []
    for path in sorted(files("genbench.conf").joinpath(group).iterdir(), key=lambda p: p.name):
        if path.name.endswith(".yaml"):
            node = OmegaConf.create(path.read_text())
            if group == "metrics":  # a metrics file holds one entry under its own name
                node = next(iter(node.values()), None) if len(node) else None
            if isinstance(node, DictConfig) and node.get("family", "gan") == family:
                names.append(path.name[:-5])
    return names


def _check_family(cfg: DictConfig) -> str:
    """The loss, regularizers and metrics must belong to the model's family (model.family: gan | vae)."""
    family = cfg.model.get("family", "gan")
    if family not in FAMILIES:
        raise ConfigError(f"model.family={family!r}: choose one of {', '.join(FAMILIES)}")
    model = cfg.model.get("name", family)
    if family in DENSITY_FAMILIES and isinstance(cfg.get("loss"), DictConfig):
        raise ConfigError(f"the loss {cfg.loss.get('_target_')} is {family_name(cfg.loss.get('family', 'gan'), True)} "
                          f"objective but model={model} trains by its own ({family_name(family, True)}): drop loss=")
    loss_family = cfg.loss.get("family", "gan") if isinstance(cfg.get("loss"), DictConfig) else family
    if loss_family != family:
        raise ConfigError(f"the loss {cfg.loss.get('_target_')} is {family_name(loss_family, True)} objective but "
                          f"model={model} is {family_name(family, True)}: choose loss="
                          + "|".join(_group_options("loss", family)))
    regs = list(cfg.get("reg") or {})
    if family != "gan" and regs:
        raise ConfigError(f"reg={','.join(regs)}: GAN regularizers act on a discriminator or the GAN game; "
                          f"model={model} is {family_name(family, True)} and takes none: drop it (reg=none)")
    for name, metric in (cfg.get("metrics") or {}).items():
        if not (isinstance(metric, DictConfig) and "_target_" in metric):
            continue
        evaluates = metric.get("family", family)  # one family, or a list of them (toy_nll: [gmm, nce])
        evaluates = [evaluates] if isinstance(evaluates, str) else list(evaluates)
        if family not in evaluates:
            names = [family_name(f, plural=True) for f in evaluates]
            names = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
            raise ConfigError(f"metrics={name} evaluates {names} but model={model} is {family_name(family, True)}: "
                              "drop it from metrics=[...]")
    return family


def _moved_keys(cfg: DictConfig) -> None:
    """An evaluation setting left in the metrics group (an experiment YAML's `metrics: {every: ...}`, or
    `+metrics.every=...`) names its new key in eval."""
    for key, value in (cfg.get("metrics") or {}).items():
        if new_key(f"metrics.{key}") is not None:
            shown = None if isinstance(value, DictConfig) else value
            raise ConfigError(moved_message(f"metrics.{key}", None if shown is None else str(shown)))


def _sample_minimums(cfg: DictConfig) -> None:
    """FID, KID and PRDC need a least count of samples (eval.n, as many real ones): fail here, not after
    training (FID with 1 sample hands sqrtm a NaN covariance, which fails late or never returns at d = 2048)."""
    n = cfg.eval.n
    for name, metric in (cfg.get("metrics") or {}).items():
        if not isinstance(metric, DictConfig) or "_target_" not in metric:
            continue
        kind = str(metric._target_).rsplit(".", 1)[-1]
        if kind == "FID" and n < 2:
            raise ConfigError(f"eval.n={n} is too few for metrics={name}: FID fits a covariance to the features, "
                              "which needs at least 2 samples (and many more for a number worth comparing: "
                              "FID is biased by n): choose eval.n=2 or more, e.g. eval.n=2500")
        if kind == "KID":
            for key in ("subsets", "subset_size"):
                positive_int(cfg, f"metrics.{name}.{key}")
            if min(n, metric.subset_size) < 2:
                key, value = ("eval.n", n) if n < 2 else (f"metrics.{name}.subset_size", metric.subset_size)
                raise ConfigError(f"{key}={value} is too few for metrics={name}: KID's unbiased estimator leaves "
                                  f"out the diagonal and needs subsets of at least 2 samples: choose {key}=2 or more")
        if kind == "PRDC":
            for key in ("k_pr", "k_dc"):
                positive_int(cfg, f"metrics.{name}.{key}")
            k = max(metric.k_pr, metric.k_dc)
            if n <= k:
                raise ConfigError(f"eval.n={n} is too few for metrics={name}: its k-NN balls (k = {k}) need more "
                                  f"than k samples: choose eval.n={k + 1} or more, or a smaller "
                                  f"metrics.{name}.k_pr/k_dc")
        if kind == "InceptionScore":
            positive_int(cfg, f"metrics.{name}.splits")
            shuffle = metric.get("shuffle", False)
            if not isinstance(shuffle, bool):
                raise ConfigError(f"metrics.{name}.shuffle={shuffle!r}: choose false (splits in sampling order, as "
                                  "Salimans et al.'s code) or true (permuted first, as torch-fidelity)")


def _check_toy_nll(cfg: DictConfig) -> None:
    """metrics=[toy_nll]'s settings (any family with a density: gmm, nce, ebm, vae)."""
    if OmegaConf.select(cfg, "metrics.toy_nll") is None:
        return
    for key in ("metrics.toy_nll.n", "metrics.toy_nll.grid", "metrics.toy_nll.k"):
        if OmegaConf.select(cfg, key) is not None:
            positive_int(cfg, key)
    margin = OmegaConf.select(cfg, "metrics.toy_nll.margin")
    if margin is not None and (not is_number(margin) or margin < 0):
        raise ConfigError(f"metrics.toy_nll.margin={margin!r} must be a number >= 0 (the grid's border around "
                          "the data), e.g. 2.0")


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError on the first invalid value."""
    _moved_keys(cfg)  # first: an old key would otherwise be ignored, or fail further down under its old name
    family = _check_family(cfg)  # a loss of the other family may interpolate keys this model lacks
    try:
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        key = err.full_key
        hint = " (the folder of images)" if key == "dataset.root" else ""
        raise ConfigError(f"{key} has no value: set it on the command line, {key}=<value>{hint}") from None
    if not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool):
        raise ConfigError(f"seed={cfg.seed!r} must be a whole number")
    if not 0 <= cfg.seed <= MAX_SEED:
        raise ConfigError(f"seed={cfg.seed} is out of range: choose a whole number from 0 to {MAX_SEED} "
                          "(numpy's seeds are 32-bit)")
    for key in ("train.max_steps", "train.log_every", "train.sample_every", "train.checkpoint_every",
                "train.steps_per_batch", "eval.every", "eval.n", "dataset.batch_size", "hardware.devices"):
        positive_int(cfg, key)
    if family not in ("ebm", *DENSITY_FAMILIES):  # no latent: samples start in data space, or a density's
        positive_int(cfg, "model.z_dim")
    _sample_minimums(cfg)
    _check_toy_nll(cfg)
    module, function = FAMILY_CHECKS[family].split(":")  # the family's own checks, OmegaConf only like these
    getattr(importlib.import_module(module), function)(cfg)
    binarize = OmegaConf.select(cfg, "dataset.binarize")
    if binarize not in (None, "static"):
        raise ConfigError(f"dataset.binarize={binarize!r}: choose static (one fixed draw per image) or null")
    if str(cfg.hardware.precision) not in PRECISIONS:
        raise ConfigError(f"hardware.precision={cfg.hardware.precision!r}: choose one of {', '.join(PRECISIONS)}")
    precision = str(cfg.hardware.precision)
    if cfg.hardware.accelerator == "cpu" and precision.startswith("16"):
        raise ConfigError(f"hardware.precision={precision} needs a GPU; on CPU use 32-true or bf16-mixed")
    _ranks(cfg)
    wandb = OmegaConf.select(cfg, "logger.wandb")
    if wandb is not None and wandb.mode not in WANDB_MODES:
        raise ConfigError(f"logger.wandb.mode={wandb.mode!r}: choose one of {', '.join(WANDB_MODES)}")
    check_scheduler(cfg)
    if cfg.eval.mode not in ("auto", "max", "min"):
        raise ConfigError(f"eval.mode={cfg.eval.mode!r}: choose max, min or auto")
    extractor = OmegaConf.select(cfg, "eval.extractor")
    if extractor is not None and extractor not in ("auto", "inception", "classifier"):
        raise ConfigError(f"eval.extractor={extractor!r}: choose auto, inception or classifier")
    if cfg.model.get("module") != "infogan" and OmegaConf.select(cfg, "metrics.infogan") is not None:
        raise ConfigError("metrics=[infogan] reads InfoGAN's latent codes and Q head: use it with model=infogan")
    for name, reg in (cfg.get("reg") or {}).items():
        weight = reg.get("weight")
        if weight is not None and (not isinstance(weight, (int, float)) or weight < 0):
            raise ConfigError(f"reg.{name}.weight={weight!r} must be a number >= 0")


STRATEGIES = ("auto", "ddp")


def _ranks(cfg: DictConfig) -> None:
    """Several devices train with genbench's DDP (docs/clusters.md); the global batch splits evenly."""
    hw = cfg.hardware
    if str(hw.strategy) not in STRATEGIES:
        raise ConfigError(f"hardware.strategy={hw.strategy!r}: choose auto (one device) or ddp (several; genbench "
                          "starts the ranks itself, or SLURM does); other Lightning strategies are not supported")
    world = int(hw.devices) * int(hw.get("num_nodes", 1) or 1)
    batch = cfg.dataset.get("batch_size")
    if world > 1 and isinstance(batch, int) and batch % world:
        raise ConfigError(f"dataset.batch_size={batch} is the global batch of {world} ranks and must split evenly: "
                          f"choose a multiple of {world}, e.g. dataset.batch_size={batch - batch % world or world}")


def check_machine(cfg: DictConfig) -> None:
    """The chosen hardware must exist on this machine: a GPU for hardware.accelerator=gpu (how many is left to
    Lightning), at most one CPU process per core. Kept apart from check_config, which checks values only (a
    config for a GPU node may be composed and checked anywhere). torch is imported only for a GPU accelerator."""
    import os

    hw = cfg.hardware
    accelerator = str(hw.get("accelerator", "cpu"))
    if accelerator in GPU_ACCELERATORS:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"hardware.accelerator={accelerator} but this machine has no usable GPU (torch "
                              f"{torch.__version__}, torch.cuda.is_available() is False): run with hardware=cpu, "
                              "or on a GPU node")
    elif accelerator == "cpu":
        cores = os.cpu_count() or 1
        devices = hw.get("devices")
        if isinstance(devices, int) and not isinstance(devices, bool) and devices > cores:
            raise ConfigError(f"hardware.devices={devices} CPU processes but this machine has {cores} cores: "
                              f"choose hardware.devices={cores} or fewer")
