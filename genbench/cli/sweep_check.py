"""A typo in a `genbench -m` sweep fails before anything is written.

Hydra composes the jobs of a sweep only after it has written <sweep dir>/multirun.yaml, so `-m model=gan,wgan_gpp`
or `-m train.max_step=5,10` would leave a sweep folder behind. Here the sweep's first job is composed, and every
value of a swept config group is looked up among the group's options (the job with a missing one is composed too),
so Hydra's own error is raised first; main() turns it into one line."""

from __future__ import annotations


def _missing(loader, override) -> list[str]:
    """The values of a group sweep (model=gan,wgan_gpp; reg=[gp,sn],[snn]) that name no option of the group."""
    group = override.key_or_group
    if not loader.repository.group_exists(group):
        return []  # a key, not a group: the first job's composition checks it
    bad = []
    for value, text in zip(override.sweep_iterator(), override.sweep_string_iterator(), strict=True):
        names = value if isinstance(value, list) else [value]
        if any(n is not None and not loader.repository.config_exists(f"{group}/{n}") for n in names):
            bad.append(text)
    return bad


def first_job(parsed) -> list[str]:
    """The overrides of a sweep's first job: each swept key at its first value (parsed: Hydra's Override objects)."""
    return [o.input_line if not o.is_sweep_override() else
            f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}" for o in parsed]


def check_sweep(overrides: list[str]) -> None:
    """Compose what a typo in `overrides`' sweeps would break; raises Hydra's error (a HydraException)."""
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from genbench.cli.config_groups import genbench_loader

    if not any(OverridesParser.create().parse_override(o).is_sweep_override() for o in overrides):
        return
    with genbench_loader() as loader:
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(overrides)
        parsed = [o for o in parsed if not o.is_hydra_override()]
        sweeps = [o for o in parsed if o.is_sweep_override()]
        if not all(o.is_discrete_sweep() for o in sweeps):
            return  # an interval (an Optuna search's range): its values are the sweeper's to draw
        first = first_job(parsed)
        compose(config_name="config", overrides=first)
        for i, override in enumerate(parsed):
            for value in _missing(loader, override) if override.is_sweep_override() else []:
                compose(config_name="config", overrides=[*first[:i], f"{override.get_key_element()}={value}",
                                                         *first[i + 1:]])
