"""The collector pause of genbench's entry points (genbench/runs/startup_gc.py), in a fresh interpreter each: it
freezes once, only inside a pause, and gives the caller its collector back."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> None:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_pause_collects_once_freezes_once_and_restores_the_collector():
    run_python("""
        import gc
        from genbench.runs import startup_gc

        class Cycle:
            def __init__(self):
                self.me = self

        with startup_gc.paused():
            assert not gc.isenabled()
            Cycle()  # start-up garbage: collected by settle, not frozen
            startup_gc.settle()
            assert gc.isenabled() and gc.get_freeze_count() > 0
            assert not any(type(o).__name__ == "Cycle" for o in gc.get_objects(generation=2))
            frozen = gc.get_freeze_count()
        assert gc.isenabled()
        with startup_gc.paused():  # a sweep's next job: paused again, frozen no more
            assert not gc.isenabled()
            kept = [[] for _ in range(1000)]  # alive, tracked: a freeze would take them
            startup_gc.settle()
            assert gc.isenabled() and gc.get_freeze_count() <= frozen and kept
        gc.disable()
        with startup_gc.paused():
            pass
        assert not gc.isenabled()  # a caller's own choice is kept
    """)


def test_outside_a_pause_settle_changes_nothing():
    run_python("""
        import gc
        from genbench.runs import startup_gc

        startup_gc.settle()
        assert gc.isenabled() and gc.get_freeze_count() == 0
        gc.disable()
        startup_gc.settle()
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    """)
