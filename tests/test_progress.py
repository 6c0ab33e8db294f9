"""Progress of long stages (issue 16.1): plain periodic lines without control characters where output is not a
terminal, a bar on a terminal; both through the `genbench` executable."""

from __future__ import annotations

import logging
import os
import pty
import re
import select
import time

import pytest
from conftest import run_genbench, start_genbench

from genbench import progress

SHORT = ["train.max_steps=150", "train.log_every=50", "eval.every=150", "eval.n=200", "logger=csv",
         "hardware.threads=1"]
CONTROL = re.compile(r"[\x1b\r]")


@pytest.fixture
def plain_every(monkeypatch):
    monkeypatch.setattr(progress, "SETTINGS", progress.Settings(mode="plain", every_s=0.05))


def test_plain_lines_say_count_rate_and_time_left(plain_every, caplog):
    caplog.set_level(logging.INFO, logger="genbench")
    with progress.Stage("Inception features", total=100, unit="images") as stage:
        for _ in range(10):
            time.sleep(0.02)
            stage.advance(10, note="batch ok")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) >= 2, lines
    assert re.fullmatch(r"Inception features: \d+/100 images \(\d+%\), [\d.]+ images/s, [\dhms]+ left  batch ok",
                        lines[0]), lines[0]
    assert lines[-1].startswith("Inception features: 100/100 images (100%)")


def test_off_and_other_ranks_print_nothing(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="genbench")
    monkeypatch.setattr(progress, "SETTINGS", progress.Settings(mode="off", every_s=0.01))
    with progress.Stage("x", total=3, unit="steps") as stage:
        time.sleep(0.03)
        stage.advance(3)
    monkeypatch.setattr(progress, "SETTINGS", progress.Settings(mode="plain", every_s=0.01))
    monkeypatch.setenv("RANK", "1")
    with progress.Stage("x", total=3, unit="steps") as stage:
        time.sleep(0.03)
        stage.advance(3)
    assert not caplog.records


def test_a_run_in_a_log_file_prints_periodic_plain_lines(tmp_path):
    result = run_genbench(["hydra.run.dir=run", "progress.every_s=0.2", *SHORT], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "] - training: " in line]
    assert len(lines) >= 2, result.stdout[-3000:]
    assert re.search(r"training: \d+/150 steps \(\d+%\), [\d.]+ steps/s", lines[0]), lines[0]
    assert not CONTROL.search(result.stdout + result.stderr)
    assert "training: " in (tmp_path / "run" / "genbench.log").read_text()


def test_a_run_on_a_terminal_shows_a_bar(tmp_path):
    """The same run with a pseudo-terminal as its output: rich's bar (redrawn in place) and the log lines."""
    primary, secondary = pty.openpty()
    proc = start_genbench(["hydra.run.dir=run", *SHORT], tmp_path, terminal=secondary)
    out, deadline = b"", time.time() + 300
    while time.time() < deadline:  # read the terminal until the run ended and nothing is left to read
        if select.select([primary], [], [], 0.2)[0]:
            out += os.read(primary, 65536)
        elif proc.poll() is not None:
            break
    os.close(secondary)
    assert proc.wait(timeout=10) == 0, out[-3000:]
    text = out.decode(errors="replace")
    assert "━" in text and "\r" in text and "steps/s" in text, text[-3000:]
    assert "150/150" in text
    assert "] - step 50/150" in text  # the log lines print above the bar
    assert "training: " not in text  # no plain lines on a terminal


def test_a_bad_progress_mode_is_one_line(tmp_path):
    result = run_genbench(["hydra.run.dir=run", "progress.mode=fancy"], tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip() == ("genbench: error: progress.mode='fancy' is not a mode; choose one of auto, "
                                     "bar, plain, off")
    assert not (tmp_path / "run" / "run.json").exists()
