"""Python's cyclic garbage collector while a genbench process starts.

torch, Lightning, Hydra and W&B import about 500,000 objects that live as long as the process. Each full
collection scans all of them: 0.2-0.8 s on a 2-core machine, seven times while a run starts (1.3 s of a 10 s
`debug=fast` run), and again whenever a run allocates enough. The entry points pause the collector while they
import and compose (`paused`); once a run holds what it needs, `settle` collects once, moves everything still
alive into the permanent generation (gc.freeze) and resumes the collector, so later collections scan only the
run's own objects. One collection instead of seven; the one is kept so that the start-up's cyclic garbage (a
sweep composes every job's config first) is freed, not frozen.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_state = {"pauses": 0, "frozen": False}


@contextmanager
def paused() -> Iterator[None]:
    """No collections until `settle` (or the end of the block); the collector's own state is restored on exit,
    so a caller in a longer process (a test, a notebook) gets its collector back."""
    was_enabled = gc.isenabled()
    gc.disable()
    _state["pauses"] += 1
    try:
        yield
    finally:
        _state["pauses"] -= 1
        if was_enabled:
            gc.enable()


def settle() -> None:
    """Inside `paused`: freeze what the process holds now (once: a sweep's later jobs do not freeze the jobs
    before them) and let the collector run again. Outside it (genbench used as a library) it does nothing."""
    if not _state["pauses"]:
        return
    if not _state["frozen"]:
        gc.collect()
        gc.freeze()
        _state["frozen"] = True
    gc.enable()
