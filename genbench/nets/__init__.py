"""Generator and discriminator networks. Each module here (mlp, dcgan, resnet32, ...) is one family
with `build_generator(shape, z_dim, width, norm)` and `build_discriminator(shape, width, norm)`;
`model.nets.image=<module>` or `model.nets.vector=<module>` picks it by file name, so a new family is
one new file. A `model.nets.init` dict is passed to both builders as keyword arguments (family-specific).

Discriminators of the mlp, dcgan and resnet32 families subclass `layers.SplitDiscriminator`, the "features,
then head" contract: `features(x)` is everything before the final layer, flattened to (N, A); `feature_dim` is A;
`head(h)` applies the final layer (`final` names it) to give the (N,) logits, and forward(x) = head(features(x));
`replace_head(module)` swaps in a module from (N, A) features to logits. Regularizers that change D's last layer
(reg=minibatch_disc) rely on it; a family without it (dirac) cannot take them."""

from __future__ import annotations

import importlib
import pkgutil

from genbench.errors import ConfigError


def available() -> list[str]:
    """The network families: the modules here with both builders (layers.py holds shared parts, no family)."""
    names = (m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return sorted(n for n in names if _is_family(importlib.import_module(f"{__name__}.{n}")))


def _is_family(module) -> bool:
    return callable(getattr(module, "build_generator", None)) and callable(getattr(module, "build_discriminator", None))


def family(name: str, key: str):
    if name not in available():
        raise ConfigError(f"{key}={name!r} is not a network; choose one of {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}")


def build_nets(nets_cfg, shape: tuple[int, ...], z_dim: int):
    """The (generator, discriminator) pair for data of `shape`: (2,) vectors or (C, H, W) images."""
    key = "model.nets.image" if len(shape) == 3 else "model.nets.vector"
    name = nets_cfg.image if len(shape) == 3 else nets_cfg.vector
    module = family(name, key)
    width = nets_cfg.get("width")
    init = dict(nets_cfg.get("init") or {})  # family-specific keyword arguments (e.g. dirac's theta0, psi0)
    norms = {"g": nets_cfg.get("g_norm", "batch"), "d": nets_cfg.get("d_norm")}  # None: the family's default
    generator = module.build_generator(shape, z_dim, width, *([norms["g"]] if norms["g"] else []), **init)
    discriminator = module.build_discriminator(shape, width, *([norms["d"]] if norms["d"] else []), **init)
    return generator, discriminator
