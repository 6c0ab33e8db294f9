"""One-line messages for what goes wrong before a run starts: Hydra's composition errors (an unknown option or
key, an override that does not parse), an output folder that cannot be written, a sweep folder re-run with other
overrides. `genbench` prints them as `genbench: error: ...` and exits 2 (genbench/cli/main.py)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import yaml

from genbench.runs.moved_keys import moved_message, new_key

IGNORED = ("resume=", "hydra.")  # as a multirun job compares overrides (genbench/runs/sweep_job.py)
MULTIRUN_FLAGS = ("-m", "--multirun")


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def overrides_of(argv: list[str]) -> list[str]:
    """The overrides (key=value) of a genbench command line, flags left out."""
    return [a for a in argv if "=" in a and not a.startswith("-")]


# --------------------------------------------------------------------------- Hydra's composition errors


def _config_keys(overrides: list[str]) -> list[str]:
    """Every dotted key of the config composed from `overrides` (without them when they do not compose)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import DictConfig, OmegaConf

    def flat(node, prefix=""):
        for k, v in node.items():
            yield f"{prefix}{k}"
            if isinstance(v, DictConfig):
                yield from flat(v, f"{prefix}{k}.")

    kept = [o for o in overrides if not _key(o).startswith("hydra.") and "," not in o.split("=", 1)[1]]
    for attempt in (kept, []):
        GlobalHydra.instance().clear()
        try:
            with initialize_config_module(config_module="genbench.conf", version_base="1.3"):
                cfg = compose(config_name="config", overrides=attempt)
            OmegaConf.set_struct(cfg, False)
            return list(flat(cfg))
        except Exception:  # suggestions are best effort
            continue
        finally:
            GlobalHydra.instance().clear()
    return []


def _closest_key(key: str, overrides: list[str]) -> str | None:
    keys = _config_keys([o for o in overrides if _key(o) != key])
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    siblings = [k for k in keys if parent and k.rsplit(".", 1)[0] == parent] if parent in keys else []
    if siblings:
        match = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
    else:
        match = difflib.get_close_matches(key, keys, n=1, cutoff=0.8)
    return match[0] if match else None


def _fixed_value(value: str, name: str, option: str) -> str:
    """`value` with its element `name` replaced (reg=[gp,snn] -> reg=[gp,sn]; model=gan,wgan_gpp -> ...,wgan_gp)."""
    parts = re.split(r"([\[\],\s]+)", value)
    return "".join(option if part == name else part for part in parts)


def _missing_option(path: str, overrides: list[str]) -> str:
    """The "did you mean" of a config Hydra could not find at `path` (model/wgan_gpp, experiment/miyato2018/snn)."""
    from genbench.cli.config_groups import genbench_loader, groups, options

    chosen = [o for o in overrides if path.startswith(_key(o).replace(".", "/") + "/")]
    key, value = (_key(chosen[-1]), chosen[-1].split("=", 1)[1]) if chosen else (path.rsplit("/", 1)[0], None)
    group, name = key.replace(".", "/"), path[len(key) + 1:]
    try:
        with genbench_loader() as loader:
            choices, known = options(loader, group), groups(loader)
    except Exception:  # suggestions are best effort
        return ""
    if not choices:  # no such group (+modle=gan): the closest group
        close = difflib.get_close_matches(group, known, n=3)
        return f"; there is no config group {group}" + (f": did you mean {close[0]}={name}?" if close else "")
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close:
        listed = ", ".join(choices) if len(choices) <= 20 else "`genbench --help` lists them"
        return f"; the options of {group}: {listed}"
    fixed = _fixed_value(value, name, close[0]) if value is not None else None
    fix = f"{key}={fixed}" if fixed not in (None, value) else f"{key}={close[0]}"
    others = f" (closest options: {', '.join(close)})" if len(close) > 1 else ""
    return f"; did you mean {fix}?{others}"


def describe_hydra_error(err: Exception, argv: list[str]) -> str:
    """One line for a Hydra composition error, keeping Hydra's words and adding the closest option or key."""
    from hydra.errors import MissingConfigException, OverrideParseException

    overrides = overrides_of(argv)
    if isinstance(err, MissingConfigException):
        lines = [line for line in str(err).splitlines() if line.strip()]
        first = lines[0].strip().rstrip(".") if lines else "a config is missing"
        found = re.search(r"Could not (?:find|load) '([^']+)'", first)
        return first + (_missing_option(found.group(1), overrides) if found else "")
    if isinstance(err, OverrideParseException):
        return f"cannot parse the override {err.override!r}: {_one_line(err.message)}"
    message = str(err)
    refused = re.match(r"Could not override '([^']+)'", message)
    if refused:  # a key the config does not have: never suggest Hydra's `+key`, genbench would not read it
        key = refused.group(1)
        value = next((o.split("=", 1)[1] for o in overrides if _key(o) == key), None)
        if new_key(key) is not None:
            return moved_message(key, value)
        close = _closest_key(key, overrides)
        hint = (f"; did you mean {close}" + (f"={value}" if value is not None else "") + "?") if close else \
            "; `genbench --cfg job` prints every key"
        return f"Could not override '{key}': the config has no key {key}{hint}"
    lines = [line for line in message.splitlines() if line.strip() and not line.startswith("To append")]
    cause = err.__cause__
    if cause is not None and str(cause).strip():
        lines.append(str(cause).splitlines()[0])
    return _one_line("\n".join(lines)) or type(err).__name__


def describe_os_error(err: OSError, argv: list[str]) -> str:
    """One line for a folder or file Hydra could not create before the run started (read-only, not a folder)."""
    where = "hydra.sweep.dir" if any(a in MULTIRUN_FLAGS for a in argv) else "hydra.run.dir"
    target = err.filename or "the output folder"
    return f"cannot write {target} ({err.strerror or type(err).__name__}): choose a writable folder with {where}=<dir>"


# --------------------------------------------------------------------------- a sweep folder run again


def sweep_dir_of(argv: list[str]) -> Path | None:
    """The sweep folder a `-m` command names with hydra.sweep.dir=<dir> (None: not a multirun, or a new folder)."""
    if not any(a in MULTIRUN_FLAGS for a in argv):
        return None
    given = [a.split("=", 1)[1] for a in argv if a.startswith("hydra.sweep.dir=")]
    if not given or "${" in given[-1]:
        return None
    return Path(given[-1]).expanduser()


def _comparable(overrides: list[str]) -> list[str]:
    return sorted(o for o in overrides if not o.lstrip("+~").startswith(IGNORED))


def changed_sweep(argv: list[str]) -> str | None:
    """Why a `-m` command may not run into its existing sweep folder (other task overrides than the ones saved in
    <dir>/multirun.yaml), else None. Read before Hydra writes anything."""
    folder = sweep_dir_of(argv)
    saved_path = folder / "multirun.yaml" if folder else None
    if saved_path is None or not saved_path.is_file():
        return None
    try:
        saved = yaml.safe_load(saved_path.read_text())
        before = list(saved["hydra"]["overrides"]["task"] or [])
    except (yaml.YAMLError, OSError, KeyError, TypeError, ValueError) as err:
        return (f"{saved_path} cannot be read ({type(err).__name__}): the folder's sweep is unknown; choose a new "
                "hydra.sweep.dir=<dir>")
    old, new = _comparable(before), _comparable(overrides_of(argv))
    if old == new:
        return None
    return (f"{folder} holds a sweep of other overrides ({' '.join(old) or 'none'}) than this command "
            f"({' '.join(new) or 'none'}): re-run the sweep's original command to continue it, or choose a new "
            "hydra.sweep.dir=<dir>; nothing was written")
