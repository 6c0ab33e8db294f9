"""Progress of the long stages (training, feature extraction, NLL, classifier training).

On a terminal: a rich progress bar (count, rate, time left, and what the stage adds, e.g. the latest losses), shown
only once a stage has run for `bar_after_s`, with the log lines printed above it. Elsewhere (a SLURM output
file, CI, a pipe): no control characters, a plain log line every `every_s` seconds instead. `progress.mode`
forces either (`bar`, `plain`, `off`); `auto` (the default) asks whether stderr is a terminal.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass

log = logging.getLogger("genbench")


@dataclass
class Settings:
    mode: str = "auto"  # auto | bar | plain | off
    every_s: float = 30.0  # seconds between plain lines
    bar_after_s: float = 1.0  # a stage shorter than this shows no bar


SETTINGS = Settings()
MODES = ("auto", "bar", "plain", "off")


def configure(cfg) -> None:
    """Apply the config's `progress` block (genbench, genbench-eval); unknown modes are a config error."""
    from genbench.errors import ConfigError

    block = dict(cfg or {})
    mode = str(block.get("mode", "auto"))
    if mode not in MODES:
        raise ConfigError(f"progress.mode={mode!r} is not a mode; choose one of {', '.join(MODES)}")
    every = float(block.get("every_s", 30.0))
    if not every > 0:
        raise ConfigError(f"progress.every_s={every} must be a positive number of seconds")
    SETTINGS.mode, SETTINGS.every_s = mode, every


def _bar_wanted() -> bool:
    if _rank() != 0:  # rank 0 speaks for the run
        return False
    if SETTINGS.mode == "auto":
        return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    return SETTINGS.mode == "bar"


def _rank() -> int:
    from genbench.parallel.distributed import env_rank

    return env_rank()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Stage:
    """`with Stage("Inception features", total=n, unit="images") as stage: ... stage.advance(k)`.

    `update(done, note=...)` sets the count instead; `note` is shown beside the bar and in the plain lines."""

    def __init__(self, description: str, total: int, unit: str, start: int = 0):
        self.description, self.total, self.unit = description, int(total), unit
        self.start_count = self.done = int(start)
        self.note = ""
        self._bar = self._task = None
        self._handlers: list = []
        self._silent = SETTINGS.mode == "off" or _rank() != 0
        self._bar_possible = not self._silent and _bar_wanted()
        self.started = self.last_line = time.monotonic()

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.update(self.done + n, note)

    def update(self, done: int, note: str | None = None) -> None:
        self.done = int(done)
        if note is not None:
            self.note = note
        if self._silent:
            return
        now = time.monotonic()
        if self._bar_possible:
            if self._bar is None and now - self.started >= SETTINGS.bar_after_s:
                self._open_bar()
            if self._bar is not None:
                self._bar.update(self._task, completed=self.done - self.start_count, note=self.note)
        elif now - self.last_line >= SETTINGS.every_s:
            self.last_line = now
            log.info("%s", self.line())

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.done - self.start_count) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The plain progress line: count, share, rate, time left, note."""
        rate = self.rate()
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        left = f", {_duration((self.total - self.done) / rate)} left" if rate > 0 and self.total else ""
        note = f"  {self.note}" if self.note else ""
        return (f"{self.description}: {self.done}/{self.total} {self.unit}{share}, {rate:.3g} {self.unit}/s"
                f"{left}{note}")

    def _open_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        unit = self.unit

        class Speed(ProgressColumn):
            def render(self, task) -> Text:
                return Text(f"{task.speed:.3g} {unit}/s" if task.speed else f"- {unit}/s")

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Speed(),
                             TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                             console=Console(file=sys.stderr), redirect_stdout=True, redirect_stderr=True)
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=self.total - self.start_count, note=self.note)
        # log handlers keep the stream they were given: point them at the bar's proxies, so lines print above it
        proxies = {id(sys.__stdout__): sys.stdout, id(sys.__stderr__): sys.stderr}
        for handler in {*logging.getLogger().handlers, *log.handlers}:
            stream = getattr(handler, "stream", None)
            if id(stream) in proxies and proxies[id(stream)] is not stream and hasattr(handler, "setStream"):
                self._handlers.append((handler, handler.setStream(proxies[id(stream)])))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done - self.start_count, note=self.note)
            self._bar.stop()
            for handler, stream in self._handlers:
                handler.setStream(stream)
            self._bar = None
        elif not self._silent and not self._bar_possible and time.monotonic() - self.started >= SETTINGS.every_s:
            log.info("%s", self.line())  # a long stage ends with its last count
