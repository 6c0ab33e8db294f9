"""Starting the ranks of a multi-process run on one machine, and joining the process group.

Who starts the ranks:
- SLURM (`hardware=slurm`, tasks per node = devices) or torchrun: the ranks exist already; each joins the group.
- otherwise, with `hardware.devices` > 1: the `genbench` process is rank 0 and starts ranks 1..N-1 itself, as
  `python -m genbench.parallel.rank_main <payload>`. The payload holds rank 0's composed config and run context, so a
  child neither re-composes the config nor re-runs a sweep (Lightning's own launcher re-runs `sys.argv`, which
  under `genbench -m` re-launches the whole sweep in every rank, and spawning would leave rank 0's results in
  the children). Children die with rank 0 (PR_SET_PDEATHSIG); when a child fails, rank 0 marks the run failed
  and ends every rank instead of waiting in a collective forever.
"""

from __future__ import annotations

import ctypes
import datetime
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("genbench")

COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=60)  # rank-0-only work (reference features, NLL) may be long


def external_world_size() -> int:
    """The number of ranks a scheduler or torchrun started (1 when none did)."""
    if "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ:
        return int(os.environ["WORLD_SIZE"])
    if os.environ.get("SLURM_NTASKS", "").isdigit() and os.environ.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        return int(os.environ["SLURM_NTASKS"])
    return 1


def requested_world_size(hw) -> int:
    return int(hw.devices) * int(hw.get("num_nodes", 1) or 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In a child: SIGKILL when rank 0 dies (Linux); elsewhere nothing."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class LocalRanks:
    """Ranks 1..N-1 as child processes of rank 0 (this process), and a watch on them."""

    def __init__(self, world: int, payload: dict, on_failure: Callable[[str], None]):
        self.world = world
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE=str(world),
                          RANK="0", LOCAL_RANK="0", NODE_RANK="0")
        fd, self.payload_path = tempfile.mkstemp(prefix="genbench-ranks-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f)
        self.children: list[subprocess.Popen] = []
        for r in range(1, world):
            env = {**os.environ, "RANK": str(r), "LOCAL_RANK": str(r)}
            command = [sys.executable, "-m", "genbench.parallel.rank_main", self.payload_path]
            self.children.append(subprocess.Popen(command, env=env, preexec_fn=_die_with_parent))
        self._on_failure = on_failure
        self._done = threading.Event()
        threading.Thread(target=self._watch, daemon=True, name="genbench-rank-watch").start()

    def _watch(self) -> None:
        while not self._done.wait(0.5):
            for r, child in enumerate(self.children, start=1):
                code = child.poll()
                # 128 + signal: a stop every rank agreed on (genbench/callbacks/preemption.py); rank 0 reports it
                if code is not None and code != 0 and not 128 <= code < 160 and not self._done.is_set():
                    self._on_failure(f"rank {r} exited with code {code}")
                    self.kill()
                    os._exit(1)  # the main thread may be waiting in a collective that will never complete

    def kill(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()

    def join(self, timeout: float = 120.0) -> None:
        """After rank 0's training: wait for the children to leave, then stop watching."""
        deadline = time.monotonic() + timeout
        for r, child in enumerate(self.children, start=1):
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # a rank waiting in a collective rank 0 never joined: a bug
                log.warning("rank %d was still running %.0f s after rank 0 finished: stopped it", r, timeout)
                child.kill()
        self._done.set()
        Path(self.payload_path).unlink(missing_ok=True)

    def stop(self) -> None:
        """Rank 0 is leaving early (an error): end the children too."""
        self._done.set()
        self.kill()
        Path(self.payload_path).unlink(missing_ok=True)


def init_process_group(accelerator: str) -> None:
    """Join the ranks' process group before Lightning does, so genbench can decide things on rank 0 and tell the
    others (resume or not, skip a finished job) before anything is built. Lightning finds it initialized."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    gpu = accelerator in ("gpu", "cuda") and torch.cuda.is_available()
    if "LOCAL_RANK" in os.environ:  # our children, torchrun
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ["LOCAL_RANK"])
        address, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    else:  # SLURM started the ranks: the address and port as Lightning derives them
        from lightning_fabric.plugins.environments import SLURMEnvironment

        env = SLURMEnvironment(auto_requeue=False)
        rank, world, local = env.global_rank(), env.world_size(), env.local_rank()
        address, port = env.main_address, env.main_port
        os.environ.update(MASTER_ADDR=address, MASTER_PORT=str(port))
    if gpu:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if gpu else "gloo", init_method=f"tcp://{address}:{port}", rank=rank,
                           world_size=world, timeout=COLLECTIVE_TIMEOUT)


def destroy_process_group() -> None:
    import torch.distributed as dist

    from genbench.parallel import distributed

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    distributed.reset()
