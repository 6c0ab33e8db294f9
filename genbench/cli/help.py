"""The group list of `genbench --help`: Hydra's own list ($APP_CONFIG_GROUPS) without the internal options.

conf/hydra/help/genbench.yaml interpolates ${genbench_help_groups:}; the resolver reads the running app's config
loader, so the list is what Hydra would compose."""

from __future__ import annotations

from omegaconf import OmegaConf

RESOLVER = "genbench_help_groups"


def help_groups() -> str:
    from hydra.core.global_hydra import GlobalHydra

    from genbench.cli.config_groups import groups, options

    if not GlobalHydra.instance().is_initialized():  # resolved outside `genbench --help`: nothing to list
        return ""
    loader = GlobalHydra.instance().config_loader()
    lines = []
    for group in groups(loader):
        shown = options(loader, group, nested=False)
        if shown:
            lines.append(f"{group}: {', '.join(shown)}")
    return "\n".join(lines)


def register() -> None:
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, help_groups)
