"""A warm console script for the tests: one process per pytest worker imports torch, Lightning, W&B and genbench
once, then forks a child per command, which runs the installed entry point (`genbench`, `genbench-eval`,
`genbench-table`) exactly as its console script does: `sys.exit(main())` with the command's argv, folder and
environment, its stdout and stderr in files (or a pseudo-terminal), its own process group. Several commands may
run at once, and a test may signal one (`start`, a Popen-like process); the processes a command starts with
sys.executable (DDP ranks, submitit's local tasks, a script's workers) are warm children too (SHIM below).

Why: importing torch, Lightning and W&B costs ~5 s of CPU on an idle core of this machine and 10-15 s on a loaded
one, and the suite runs its commands ~150 times; the command's own code path is unchanged. Commands that must start
cold (`--help` staying free of torch, packaging) use a real subprocess.
`GENBENCH_TEST_COLD=1` runs every command as a real subprocess."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

_SERVER: dict = {}
_SHIM: dict = {}  # in the server: the path of the shim, which its children see as sys.executable

# The processes a warm command starts with sys.executable become children forked from the warm server too:
# `python -m genbench.parallel.rank_main <payload>` (genbench's DDP ranks, genbench/parallel/launch.py),
# `python -u -m submitit.core._submit <folder>` (a submitit local job's task) and `python <script>.py ...` (a
# script's worker, e.g. gpu_check's DDP run, and the ranks Lightning starts for it). Anything else runs the real
# interpreter: submitit's local controller, whose own pid names its job's files, and every process of a SLURM job
# (the cluster tests start those cold, as SLURM starts and tracks them). The shim passes its
# stdin, stdout and stderr, forwards signals to the child and exits as the child does; the child ends when the
# shim does (killed, or killed with rank 0).
WARM_MODULES = ("genbench.parallel.rank_main", "submitit.core._submit")
SHIM = """#!{python} -S
import json, os, signal, socket, sys
REAL, SOCKET, MODULES = {python!r}, {socket!r}, {modules!r}
argv = sys.argv[1:]
unbuffered = argv[:1] == ["-u"]
program = argv[1:] if unbuffered else argv
warm = (program[:1] == ["-m"] and program[1:2] and program[1] in MODULES) or program[:1] and program[0].endswith(".py")
if not warm or "SLURM_JOB_ID" in os.environ or not os.path.exists(SOCKET):
    os.execv(REAL, [REAL, *argv])
connection = socket.socket(socket.AF_UNIX)
connection.connect(SOCKET)
env = dict(os.environ, **({{"PYTHONUNBUFFERED": "1"}} if unbuffered else {{}}))
request = {{"argv": program, "env": env, "cwd": os.getcwd(), "shim": os.getpid()}}
socket.send_fds(connection, [json.dumps(request).encode() + b"\\n"], [0, 1, 2])
replies = connection.makefile("rb")
child = json.loads(replies.readline())["pid"]
for number in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP):
    signal.signal(number, lambda n, _: os.kill(child, n))
code = json.loads(replies.readline())["rc"]
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def _preload() -> None:
    """Import what every command imports, none of which starts a thread: torch, Lightning, W&B (whose `init`
    imports its launch package, 3 s on a loaded core), Hydra's plugins, and every genbench module."""
    import gc
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
    gc.collect()
    gc.freeze()  # CPython's advice before fork(): no child collection scans (and copies) the preloaded objects


def _serve() -> None:
    """The warm process: for each JSON request line, fork a child and reply {"id", "pid"}; when a child ends, reply
    {"id", "rc"}. Several commands may run at once (a test starting a second command while the first trains)."""
    _preload()

    stdin, replies = sys.stdin.fileno(), sys.stdout
    pending, running = b"", {}  # running: child pid -> a command's request id, or a shim's connection
    woken, wake = os.pipe()  # SIGCHLD writes a byte here: select wakes when a child ends
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    folder = tempfile.mkdtemp(prefix="genbench-warm-")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(os.path.join(folder, "shim.sock"))
    listener.listen(16)
    _SHIM["path"] = os.path.join(folder, "python")
    with open(_SHIM["path"], "w") as f:
        f.write(SHIM.format(python=sys.executable, socket=listener.getsockname(), modules=WARM_MODULES))
    os.chmod(_SHIM["path"], 0o755)

    def reply(message: dict) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    def fork(then, *args) -> int:
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (woken, wake, listener.fileno()):
                os.close(fd)
            then(*args)
        return pid

    while True:
        ready = select.select([stdin, woken, listener], [], [])[0]
        if woken in ready:
            os.read(woken, 4096)
        if listener in ready:  # a shim: its request and its standard streams
            connection, _ = listener.accept()
            data, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
            pid = fork(_started, json.loads(data), fds)
            for fd in fds:
                os.close(fd)
            running[pid] = connection
            with contextlib.suppress(OSError):
                connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        if stdin in ready:
            chunk = os.read(stdin, 65536)
            if not chunk:
                break
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = fork(_child, request)
                running[pid] = request["id"]
                reply({"id": request["id"], "pid": pid})
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            owner, code = running.pop(pid), os.waitstatus_to_exitcode(status)
            if isinstance(owner, socket.socket):
                with contextlib.suppress(OSError):  # the shim may be gone (a rank killed with rank 0)
                    owner.sendall(json.dumps({"rc": code}).encode() + b"\n")
                owner.close()
            else:
                reply({"id": owner, "rc": code})
    shutil.rmtree(folder, ignore_errors=True)


def _started(request: dict, fds: list[int]) -> None:
    """Become the process a shim asked for: its streams, folder and environment; `python -m module args` or
    `python script.py args` as runpy runs them; ended when the shim ends."""
    import runpy
    import threading
    import time

    code = 1
    try:
        _become(request["cwd"], request["env"], tuple(fds))

        def watch(shim: int) -> None:
            while True:
                time.sleep(0.2)
                try:
                    os.kill(shim, 0)
                except ProcessLookupError:
                    os._exit(137)  # the shim was killed: so is the process it stands for

        threading.Thread(target=watch, args=(request["shim"],), daemon=True).start()
        argv = request["argv"]
        if argv[0] == "-m":
            code = _main(lambda: runpy.run_module(argv[1], run_name="__main__", alter_sys=True), argv[1:])
        else:
            code = _script(argv[0], argv[1:])
    finally:
        _flush()
        os._exit(code)


def _become(cwd: str, env: dict, streams: tuple[int, int, int]) -> None:
    """In a forked child: killed when the server ends (its pytest worker did, so nothing outlives the test
    session), the request's folder and environment, `streams` as stdin, stdout and stderr, Ctrl-C as Python's."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for target, fd in enumerate(streams):
        os.dup2(fd, target)
    for fd in set(streams) - {0, 1, 2}:
        os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    line = 1 if env.get("PYTHONUNBUFFERED") else -1  # `python -u`: each line as it is written
    sys.stdout = open(1, "w", buffering=line, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115 (line-buffered, as Python's own)
    sys.executable = _SHIM["path"]  # what it starts with sys.executable starts warm too (SHIM above)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _main(run, argv: list[str]) -> int:
    """Run `run` as an interpreter runs a program with `argv`: its exit code, an uncaught exception's traceback,
    then the end of non-daemon threads and the atexit functions."""
    import atexit
    import threading
    import traceback

    sys.argv = argv
    code = 0
    try:
        run()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if stop.code is not None and not isinstance(stop.code, int):
            print(stop.code, file=sys.stderr)
    except BaseException:  # what the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    threading._shutdown()  # non-daemon threads end as at interpreter exit
    atexit._run_exitfuncs()
    return code


def _child(request: dict) -> None:
    """Become the command: folder, environment, argv, standard streams; then the entry point, as its script."""
    from importlib.metadata import entry_points

    code = 1
    try:
        os.setsid()  # its own process group, as a command started from a shell
        if request.get("terminal"):  # a pseudo-terminal's secondary end as all three, as a shell gives them
            streams = (os.open(request["terminal"], os.O_RDWR),) * 3
        else:
            out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            same = request["stderr"] == request["stdout"]  # merged: one file description, as 2>&1 gives
            err = out if same else os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            streams = (os.open(os.devnull, os.O_RDONLY), out, err)
        _become(request["cwd"], request["env"], streams)
        exe = request["exe"]
        if exe.endswith(".py"):
            code = _script(exe, request["args"])
        else:
            (script,) = entry_points(group="console_scripts", name=exe)
            code = _main(lambda: sys.exit(script.load()()), [exe, *request["args"]])
    finally:
        _flush()
        os._exit(code)


def _script(path: str, args: list[str]) -> int:
    """`python script.py args`: the script's folder first on sys.path, run as __main__."""
    import runpy

    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    return _main(lambda: runpy.run_path(path, run_name="__main__"), [path, *args])


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _server(env: dict) -> subprocess.Popen:
    server = _SERVER.get("process")
    if server is None or server.poll() is not None:
        server = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env, cwd=tempfile.gettempdir(), bufsize=1)
        _SERVER.update(process=server, replies={}, buffer=b"", next_id=0)
    return server


def _reply(server: subprocess.Popen, request_id: int, key: str, timeout: float | None) -> dict | None:
    """The server's reply with `key` ("pid" or "rc") for one request (None: not within `timeout` s), keeping the
    other requests' replies."""
    import time

    replies, deadline = _SERVER["replies"], None if timeout is None else time.monotonic() + timeout
    while (request_id, key) not in replies:
        if b"\n" in _SERVER["buffer"]:  # a line read with an earlier one
            line, _SERVER["buffer"] = _SERVER["buffer"].split(b"\n", 1)
            message = json.loads(line)
            replies[message["id"], "pid" if "pid" in message else "rc"] = message
            continue
        left = None if deadline is None else max(deadline - time.monotonic(), 0)
        if not select.select([server.stdout], [], [], left)[0]:
            return None
        chunk = os.read(server.stdout.fileno(), 65536)
        if not chunk:
            raise RuntimeError("the warm console-script server ended")
        _SERVER["buffer"] += chunk
    return replies.pop((request_id, key))


class WarmProcess:
    """A command running in a warm child, with the part of subprocess.Popen's interface the tests use: pid,
    poll, wait, communicate (stdout and stderr as text, or both in stdout with `merge`), send_signal, kill."""

    def __init__(self, exe: str, args: list, cwd: Path, env: dict, base_env: dict, merge: bool = False,
                 terminal: str | None = None):
        self.args = [exe, *map(str, args)]
        self._server = _server(base_env)
        self._id = _SERVER["next_id"] = _SERVER["next_id"] + 1
        self._tmp = tempfile.TemporaryDirectory()
        self._out = Path(self._tmp.name) / "stdout"
        self._err = self._out if merge else Path(self._tmp.name) / "stderr"
        self._out.touch()
        self._err.touch()
        request = {"id": self._id, "exe": exe, "args": self.args[1:], "cwd": str(cwd), "env": env,
                   "stdout": str(self._out), "stderr": str(self._err), "terminal": terminal}
        self._server.stdin.write(json.dumps(request) + "\n")
        self._server.stdin.flush()
        self.pid = _reply(self._server, self._id, "pid", 60)["pid"]
        self.returncode: int | None = None
        self._output: tuple[str, str | None] | None = None
        self.stdout = open(self._out, errors="replace")  # noqa: SIM115  (what wait_for_step reads on a failure)

    def poll(self) -> int | None:
        return self.wait(0) if self.returncode is None else self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None:
            reply = _reply(self._server, self._id, "rc", timeout)
            if reply is None:
                if timeout == 0:
                    return None
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.returncode = reply["rc"]
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str | None]:
        self.wait(timeout)
        if self._output is None:
            out = self._out.read_text(errors="replace")
            self._output = out, None if self._err == self._out else self._err.read_text(errors="replace")
            self.stdout.close()
            self._tmp.cleanup()
        return self._output

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def start(exe: str, args: list, cwd: Path, env: dict, base_env: dict, merge: bool = False,
          terminal: str | None = None) -> WarmProcess:
    """`exe` (a console script, or a path to a .py script) with `args`, started; `terminal`: the path of a
    pseudo-terminal's secondary end to use as stdin, stdout and stderr."""
    return WarmProcess(exe, args, cwd, env, base_env, merge, terminal)


def run(exe: str, args: list[str], cwd: Path, timeout: float, env: dict, base_env: dict
        ) -> subprocess.CompletedProcess:
    """`exe args` in `cwd`: a CompletedProcess as subprocess.run(capture_output=True, text=True) would give."""
    process = start(exe, args, cwd, env, base_env)
    try:
        out, err = process.communicate(timeout)
    except subprocess.TimeoutExpired as timed_out:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(60)
        timed_out.output, timed_out.stderr = process._out.read_text(), process._err.read_text()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def cold() -> bool:
    return os.environ.get("GENBENCH_TEST_COLD") == "1"


if __name__ == "__main__":
    _serve()
