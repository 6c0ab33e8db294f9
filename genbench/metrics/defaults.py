"""The default evaluation, decided when a run starts: `metrics=[auto]` (the default) and `eval.extractor=auto`.

Why at run time: which metrics fit depends on the data (2D toys: mode coverage; images: FID, and IS when the
feature extractor has logits), and which extractor is best depends on the machine (Inception when its weights
are found or can be downloaded, else a classifier trained on the dataset's labels). An offline machine without
the weights falls back with one log line instead of failing. metrics.json's protocol states the choice.
"""

from __future__ import annotations

import copy
import logging
from importlib.resources import files

from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger("genbench")

AUTO = "auto"


def _settings(cfg: DictConfig) -> dict:
    """The feature-extractor settings the metric YAMLs pass on (the keys in one place, for a later rename)."""
    m = cfg.eval
    return {"cache_dir": m.cache_dir, "weights": OmegaConf.select(cfg, "eval.inception.weights"),
            "classifier": OmegaConf.to_container(m.classifier, resolve=True) if m.get("classifier") else None,
            "split": m.split}


def choose_extractor(cfg: DictConfig, data, previous: str | None = None) -> tuple[str | None, bool, str]:
    """(extractor, has_logits, why) for `eval.extractor=auto` on image data; extractor None: none available.

    `previous`: the extractor a resumed run already used (its history stays comparable)."""
    from genbench.features import get_bank

    settings = _settings(cfg)
    labelled = _labelled(data.dataset)
    if previous in ("inception", "classifier") and (previous == "inception" or labelled):
        chosen = previous
        why = "the extractor this run used before"
    elif settings["weights"] is not None:  # the user named a weight file: Inception, and its errors are theirs
        chosen, why = "inception", f"eval.inception.weights={settings['weights']}"
    else:
        try:
            get_bank("inception", **settings).extractor(data)  # found in the hub cache, or downloaded once
            chosen, why = "inception", "its weights were found"
        except (RuntimeError, OSError) as err:  # WeightsUnavailableError, a failed download
            reason = "offline" if "offline" in str(err) else str(err).splitlines()[0][:120]
            if not labelled:
                name = getattr(data.dataset, "name", cfg.dataset.name)
                return None, False, (f"Inception weights unavailable ({reason}) and {name} has no labels for a "
                                     "classifier: pass eval.inception.weights=<path>")
            chosen = "classifier"
            why = (f"Inception weights unavailable ({reason}); pass eval.inception.weights=<path> "
                   "or go online once for Inception")
    has_logits = chosen == "classifier" or bool(get_bank(chosen, **settings).extractor(data).has_logits)
    return chosen, has_logits, why


def _labelled(dataset) -> bool:
    """Whether the dataset has class labels to train the classifier extractor on (folders and toys have none)."""
    labels = getattr(dataset, "labels", None)
    if labels is None:
        return False
    try:
        return labels("train") is not None
    except Exception:  # noqa: BLE001  (unreadable labels: no classifier; the data's own errors come later)
        return False


def default_names(auto: DictConfig, is_image: bool, has_logits: bool) -> list[str]:
    """The metrics `metrics=[auto]` stands for: the toy list on vectors, the image list on images (IS only when the
    extractor has logits)."""
    names = list(auto.images if is_image else auto.toy)
    return [n for n in names if n != "is" or has_logits]


def candidates(auto: DictConfig) -> list[DictConfig]:
    """Every entry `metrics=[auto]` may stand for (for choices made before the data is known)."""
    return [_load_entry(n) for n in dict.fromkeys([*auto.toy, *auto.images])]


def _load_entry(name: str) -> DictConfig:
    path = files("genbench.conf").joinpath("metrics", f"{name}.yaml")
    return OmegaConf.create(path.read_text())[name]


def resolve(cfg: DictConfig, data, previous: str | None = None) -> tuple[DictConfig, dict]:
    """A copy of `cfg` with `metrics.auto` replaced by concrete entries (in its place) and `eval.extractor=auto`
    by the chosen extractor; and what metrics.json records about the choice ({} when nothing was automatic)."""
    cfg = copy.deepcopy(cfg)
    if cfg.get("metrics") is None:
        with open_dict(cfg):
            cfg.metrics = {}
    auto = cfg.metrics.get(AUTO)
    is_image = bool(getattr(data.dataset, "is_image", False))
    feature = [k for k, v in cfg.metrics.items() if isinstance(v, DictConfig) and "extractor" in v]
    wants_features = bool(feature) or (is_image and isinstance(auto, DictConfig))
    info: dict = {}
    with open_dict(cfg):
        if cfg.eval.get("extractor") == AUTO:
            extractor, has_logits, why = "inception", False, ""  # vectors: feature metrics do not apply
            if is_image and wants_features:
                extractor, has_logits, why = choose_extractor(cfg, data, previous)
                info = {"feature_extractor": extractor or "none", "feature_extractor_choice": f"auto: {why}"}
            cfg.eval.extractor = extractor or "inception"  # none: explicit feature metrics fail as before
        else:
            extractor = cfg.eval.extractor
            has_logits = is_image and wants_features and bool(_explicit_has_logits(cfg, data, extractor))
        if isinstance(auto, DictConfig):
            names = default_names(auto, is_image, has_logits)
            if is_image and extractor is None:
                names = [n for n in names if "extractor" not in _load_entry(n)]
            entries = {}
            for key, value in cfg.metrics.items():
                if key == AUTO:
                    entries.update({n: cfg.metrics.get(n) or _load_entry(n) for n in names})
                elif isinstance(value, DictConfig) and "_target_" in value:
                    entries[key] = value
            del cfg.metrics[AUTO]
            for key, value in entries.items():  # re-added in order: eval.monitor=auto takes the first
                cfg.metrics.pop(key, None)
                cfg.metrics[key] = value
            info["default_metrics"] = names
            if is_image:
                log.info("evaluation: %s; features: %s (%s)", ", ".join(names) or "none", extractor or "none",
                         info.get("feature_extractor_choice", "eval.extractor"))
    return cfg, info


def _explicit_has_logits(cfg: DictConfig, data, extractor: str) -> bool:
    """Whether a named extractor has logits (IS): the classifier always; Inception when its file has `fc`."""
    if extractor == "classifier":
        return True
    from genbench.features import get_bank

    try:
        return get_bank(extractor, **_settings(cfg)).extractor(data).has_logits
    except (RuntimeError, OSError):
        return False  # the metric's own applies() reports the missing weights


def build_metrics(cfg: DictConfig, data, previous: str | None = None) -> tuple[list, dict]:
    """The run's metric objects (the YAML entries with a `_target_`, `auto` resolved) and the choice's record."""
    from hydra.utils import instantiate

    cfg, info = resolve(cfg, data, previous)
    metrics = [instantiate(v) for v in cfg.metrics.values() if isinstance(v, DictConfig) and "_target_" in v]
    return metrics, info


def previous_extractor(run_dir) -> str | None:
    """The feature extractor a run folder's metrics.json names (a resumed run, or genbench-eval, keeps it)."""
    import json
    from pathlib import Path

    path = Path(run_dir) / "metrics.json"
    try:
        return json.loads(path.read_text()).get("protocol", {}).get("feature_extractor")
    except (OSError, ValueError):
        return None
