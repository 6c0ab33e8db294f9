"""Config keys that moved, and the one line that names the new place of an old key.

Why: the evaluation settings left the metrics group for their own node `eval` (issue 15.4), so that `metrics`
holds only metric entries. An old key on the command line or in a YAML must say where it went rather than be
refused with a bare "no such key" (or, in a YAML, be silently ignored)."""

from __future__ import annotations

EVAL_SETTINGS = ("every", "n", "monitor", "mode", "extractor", "split", "cache_dir", "inception", "classifier")
MOVED = {f"metrics.{key}": f"eval.{key}" for key in EVAL_SETTINGS}


def new_key(key: str) -> str | None:
    """The current name of an old dotted key (`metrics.classifier.epochs` -> `eval.classifier.epochs`), else None."""
    key = key.lstrip("+~")
    for old, new in MOVED.items():
        if key == old or key.startswith(old + "."):
            return new + key[len(old):]
    return None


def moved_message(key: str, value: str | None = None) -> str:
    """`metrics.every moved to eval.every: write eval.every=5` (the value when there is one)."""
    new = new_key(key)
    write = f"{new}={value}" if value is not None else new
    return f"{key.lstrip('+~')} moved to {new} (evaluation settings live in eval, the metrics group lists metrics): " \
           f"write {write}"
