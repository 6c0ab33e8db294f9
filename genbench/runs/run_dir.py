"""RunDir: the layout of one run's folder (DESIGN §3), its atomic writes, and its owner's lock.

Every path inside a run folder is named here and nowhere else; every file genbench replaces (JSON records,
checkpoints, cached features) is written by `atomic_write`: a temporary file beside it, then a rename, so a
reader, or a run killed mid-write, never sees half a file.

One process owns a run folder while it trains it: it holds an exclusive `flock` on `.genbench.lock`, which the
kernel releases when the process ends, however it ends (kill -9 included, and inside a PID namespace, where a
recorded PID says nothing). A second `genbench` on the same folder finds the lock taken and leaves the folder
alone, so there is no window between checking run.json and claiming the folder.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path

from genbench.errors import storage_error


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` fills a temporary file beside `path`, which then replaces `path` in one rename. On an OSError
    (a full disk, a read-only folder) the temporary file is removed, `path` stays as it was, and a StorageError
    names the file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise storage_error(path, err) from None


class FolderBusy(Exception):
    """Another live process holds the folder's lock."""


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock_fd: int | None = None

    # ----------------------------------------------------------------- the layout
    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_json(self) -> Path:
        return self.path / "metrics.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_ckpt(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def best_ckpt(self) -> Path:
        return self.checkpoints / "best.ckpt"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def eval_json(self) -> Path:
        """genbench-eval's history of evaluations of this run's checkpoints."""
        return self.path / "eval.json"

    @property
    def csv(self) -> Path:
        return self.path / "csv"

    @property
    def log_file(self) -> Path:
        return self.path / "genbench.log"

    @property
    def saved_overrides(self) -> Path:
        return self.path / ".hydra" / "overrides.yaml"

    @property
    def saved_config(self) -> Path:
        return self.path / ".hydra" / "config.yaml"

    @property
    def lock_file(self) -> Path:
        return self.path / ".genbench.lock"

    def holds_a_run(self) -> bool:
        """True when any result of a run is here (a record, metrics or a checkpoint)."""
        return any(p.exists() for p in (self.run_json, self.metrics_json, self.last_ckpt))

    def read_json(self, path: Path) -> dict | None:
        """A JSON file of the run, or None when it is absent or unreadable (half-written by an older version)."""
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    # ----------------------------------------------------------------- writes
    @staticmethod
    def write_json(path: Path, payload: dict | list) -> None:
        """Write to a temporary file, then rename: a reader never sees half a file."""
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n"))

    # ----------------------------------------------------------------- ownership
    def lock(self) -> None:
        """Take the folder for this process, or raise FolderBusy naming who has it. Idempotent."""
        if self._lock_fd is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderBusy(holder or "another process") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.uname().nodename} pid {os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None
