"""The config groups and options a user may choose, for `--help` and for "did you mean" suggestions.

An option whose name starts with `_` (experiment/lucas2018/_cifar10) is a part that other configs include, not a
choice of its own: it is left out. Every function takes Hydra's config loader, so `--help` lists what Hydra itself
reads (genbench/cli/help.py) and errors can suggest from the same list (genbench/cli/errors.py)."""

from __future__ import annotations

from contextlib import contextmanager


def public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("/"))


def _list(loader, group: str, kind) -> list[str]:
    # the loader's repository: its get_group_options would copy the whole search path per call (~0.2 s each)
    return list(loader.repository.get_group_options(group, kind))


def options(loader, group: str, nested: bool = True) -> list[str]:
    """The public options of `group`, with `nested` those of its subgroups as sub/name (experiment: miyato2018/sn)."""
    from hydra.core.object_type import ObjectType

    found = _list(loader, group, ObjectType.CONFIG)
    for sub in _list(loader, group, ObjectType.GROUP) if nested else []:
        found += [f"{sub}/{name}" for name in options(loader, f"{group}/{sub}")]
    return sorted(name for name in found if public(name))


def groups(loader, parent: str = "") -> list[str]:
    """Every group under `parent` (nested ones as a/b), Hydra's own (hydra/...) left out."""
    from hydra.core.object_type import ObjectType

    found = []
    for name in _list(loader, parent, ObjectType.GROUP):
        path = f"{parent}/{name}" if parent else name
        if path == "hydra" or not public(path):
            continue
        found += [path, *groups(loader, path)]
    return sorted(found)


@contextmanager
def genbench_loader():
    """Hydra's config loader over genbench's configs, outside a running app (for error messages)."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="genbench.conf", version_base="1.3"):
            yield GlobalHydra.instance().config_loader()
    finally:
        GlobalHydra.instance().clear()
