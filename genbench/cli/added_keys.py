"""`+train.max_step=5` adds a key genbench never reads, and the run would go on as if it were not there.

Hydra's `+key=value` adds a key the config lacks; that is how open settings are filled in
(`+hardware.additional_parameters.constraint=a100`). When the added name is a near-miss of a key that already sits
beside it (max_step next to max_steps, modle next to model), it is a typo: refused with the key meant."""

from __future__ import annotations

import difflib

from omegaconf import DictConfig


def _near_miss(base: DictConfig, key: str) -> str | None:
    """The existing key `key` (dotted) most likely means, if its first new part is a near-miss of a sibling."""
    parts, node = key.split("."), base
    for i, part in enumerate(parts):
        if not isinstance(node, DictConfig):
            return None  # below a value or a list: not a key a typo could have missed
        if part not in node:
            siblings = [k for k in node.keys() if isinstance(k, str) and not k.startswith("_")]
            close = difflib.get_close_matches(part, siblings, n=1, cutoff=0.8)
            return ".".join([*parts[:i], close[0], *parts[i + 1:]]) if close else None
        node = node._get_node(part)
    return None


def check_added_keys(overrides: list[str]) -> str | None:
    """Why a `+key=value` of `overrides` is refused (a typo of an existing key), else None."""
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    from genbench.cli.config_groups import genbench_loader
    from genbench.cli.sweep_check import first_job

    if not any(o.startswith("+") and not o.startswith("++") for o in overrides):
        return None
    with genbench_loader() as loader:
        parsed = [o for o in OverridesParser.create(config_loader=loader).parse_overrides(overrides)
                  if not o.is_hydra_override()]
        added = [o for o in parsed if o.type == OverrideType.ADD and not loader.repository.group_exists(o.key_or_group)]
        if not added:
            return None
        base = compose(config_name="config", overrides=first_job([o for o in parsed if o not in added]))
    for override in added:
        meant = _near_miss(base, override.key_or_group)
        if meant:
            value = override.input_line.split("=", 1)[1]
            return (f"{override.input_line} would add a key genbench does not read, and the run would go on without "
                    f"it; did you mean {meant}={value}?")
    return None
