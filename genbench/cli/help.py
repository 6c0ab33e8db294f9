"""The group list of `genbench --help`: Hydra's own list ($APP_CONFIG_GROUPS) without the internal options.

conf/hydra/help/genbench.yaml interpolates ${genbench_help_groups:}; the resolver reads the running app's config
loader, so the list is what Hydra would compose. OmegaConf resolves it whenever Hydra composes the config, i.e.
twice for every run, so it lists the groups (~0.1 s) only when the command asks for help."""

from __future__ import annotations

import sys

from omegaconf import OmegaConf

RESOLVER = "genbench_help_groups"
HELP_FLAGS = ("--help", "-h")  # Hydra's own


def help_groups() -> str:
    from hydra.core.global_hydra import GlobalHydra

    from genbench.cli.config_groups import groups, options

    if not GlobalHydra.instance().is_initialized() or not any(a in HELP_FLAGS for a in sys.argv[1:]):
        return ""  # resolved outside `genbench --help`: nothing to list
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
