"""A dataset from its `dataset=` YAML. The YAML holds two kinds of keys: the data module's (`batch_size`,
`num_workers`) and the run's name for the data (`name`), and the rest, which are the dataset constructor's
arguments (`root`, `image_size`, `n`, ...). Only the latter reach the constructor, which takes no others: a key it
does not know is a `genbench: error:` naming it and the keys it does know, not silently ignored."""

from __future__ import annotations

import inspect

from omegaconf import DictConfig, OmegaConf

from genbench.errors import ConfigError

NOT_ARGUMENTS = ("name", "batch_size", "num_workers")  # read by the data module and the run, not the dataset


def accepted(cls) -> set[str] | None:
    """The keyword arguments `cls(...)` takes, following **kwargs up the bases; None when it takes any."""
    names: set[str] = set()
    for base in cls.__mro__:
        if "__init__" not in vars(base):
            continue
        params = inspect.signature(base.__init__).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names
    return None


def dataset_arguments(dataset: DictConfig, seed: int) -> tuple[type, dict]:
    """(the dataset class, the arguments its YAML gives it): the seed where it takes one; ConfigError on a key
    it does not take."""
    from hydra.utils import get_class

    cls = get_class(dataset._target_)
    args = {k: v for k, v in OmegaConf.to_container(dataset, resolve=True).items()
            if k != "_target_" and k not in NOT_ARGUMENTS}
    known = accepted(cls)
    if known is not None:
        unknown = sorted(set(args) - known)
        if unknown:
            settings = ", ".join([*sorted(known - {"seed"}), *NOT_ARGUMENTS[1:]])
            raise ConfigError(f"dataset.{unknown[0]} is not a setting of dataset={dataset.get('name')} "
                              f"({cls.__name__}): drop it; its settings: {settings}")
        if "seed" in known:
            args["seed"] = seed
    return cls, args


def build_dataset(dataset: DictConfig, seed: int):
    cls, args = dataset_arguments(dataset, seed)
    return cls(**args)
