"""A warm console script for the tests: one process per pytest worker imports torch, Lightning, W&B and genbench once,
then forks a child per command, which runs the installed entry point (`genbench`, `genbench-eval`,
`genbench-table`) exactly as its console script does: `sys.exit(main())` with the command's argv, folder and
environment, its stdout and stderr in files.

Why: importing torch and Lightning costs ~3 s on an idle core and 7-12 s on a loaded one, and the suite runs its
commands ~90 times; the command's own code path is unchanged. Commands that must start cold (`--help` staying
free of torch, packaging, signals sent to a process the test started) use a real subprocess.
`GENBENCH_TEST_COLD=1` runs every command as a real subprocess."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

_SERVER: dict = {}


def _preload() -> None:
    """Import what every command imports, none of which starts a thread: torch, Lightning, W&B (whose `init`
    imports its launch package, 3 s on a loaded core), Hydra's plugins, and every genbench module."""
    import importlib
    import pkgutil

    import pytorch_lightning  # noqa: F401
    import torch  # noqa: F401
    import wandb  # noqa: F401
    import wandb.sdk.launch.inputs.internal  # noqa: F401
    from hydra.core.plugins import Plugins

    import genbench

    Plugins.instance()
    for module in pkgutil.walk_packages(genbench.__path__, "genbench."):
        importlib.import_module(module.name)


def _serve() -> None:
    """The warm process: read one JSON request per line, fork, report the child's pid, then its exit code."""
    _preload()

    requests, replies = sys.stdin, sys.stdout
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


def _child(request: dict) -> None:
    """Become the command: folder, environment, argv, standard streams; then the entry point, as its script."""
    import atexit
    import threading
    import traceback
    from importlib.metadata import entry_points

    code = 1
    try:
        os.setsid()  # its own process group, as a command started from a shell
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            os.dup2(os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        sys.argv = [request["exe"], *request["args"]]
        signal.signal(signal.SIGINT, signal.default_int_handler)
        (script,) = entry_points(group="console_scripts", name=request["exe"])
        try:
            sys.exit(script.load()())
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            if stop.code is not None and not isinstance(stop.code, int):
                print(stop.code, file=sys.stderr)
        except BaseException:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
        threading._shutdown()  # non-daemon threads end as at interpreter exit
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def _server(env: dict) -> subprocess.Popen:
    server = _SERVER.get("process")
    if server is None or server.poll() is not None:
        server = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env, cwd=tempfile.gettempdir())
        _SERVER["process"] = server
    return server


def _read(server: subprocess.Popen, timeout: float) -> dict | None:
    ready, _, _ = select.select([server.stdout], [], [], max(timeout, 0))
    return json.loads(server.stdout.readline()) if ready else None


def run(exe: str, args: list[str], cwd: Path, timeout: float, env: dict, base_env: dict
        ) -> subprocess.CompletedProcess:
    """`exe args` in `cwd`: a CompletedProcess as subprocess.run(capture_output=True, text=True) would give."""
    import time

    server = _server(base_env)
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        request = {"exe": exe, "args": [str(a) for a in args], "cwd": str(cwd), "env": env,
                   "stdout": str(out), "stderr": str(err)}
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        pid = _read(server, 60)["pid"]
        deadline = time.monotonic() + timeout
        reply = _read(server, deadline - time.monotonic())
        if reply is None:
            os.killpg(pid, signal.SIGKILL)
            _read(server, 60)
            raise subprocess.TimeoutExpired([exe, *args], timeout, out.read_text(), err.read_text())
        return subprocess.CompletedProcess([exe, *args], reply["rc"], out.read_text(), err.read_text())


def cold() -> bool:
    return os.environ.get("GENBENCH_TEST_COLD") == "1"


if __name__ == "__main__":
    _serve()
