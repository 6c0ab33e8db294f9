"""Shared helpers: where ../shared/data is, and running the real `genbench` executable."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import warm_cli

REPO = Path(__file__).resolve().parents[1]

# Under pytest-xdist the workers run side by side on the machine's cores: one torch thread per worker and per
# `genbench` it starts. Two OpenMP threads per process on a core another process also uses wait on each other
# (for the tiny networks of these tests, tens of times slower than one thread).
PARALLEL = "PYTEST_XDIST_WORKER" in os.environ
if PARALLEL:
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def seeded_one_thread():
    """Seed torch and use one intra-op thread: for tiny nets on a busy 2-core machine a second OpenMP
    thread makes every op wait for a descheduled worker (50 forwards: 0.1 s on one thread, ~7 s on two)."""
    import torch

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shared_data() -> Path:
    return Path(os.environ.get("GENBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def mnist_root() -> Path:
    root = shared_data()
    if not (root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST files not found under {root} (../shared/data beside the repository)")
    return root


def genbench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0"})
    if PARALLEL:
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update(extra)
    return env


def run_genbench(args: list[str], cwd: Path, timeout: float = 300, env: dict | None = None,
                 exe: str = "genbench", warm: bool = True) -> subprocess.CompletedProcess:
    """Run the installed console script in `cwd`, as a user would: through warm_cli (the entry point in a child
    forked from a process that imported torch once) unless `warm=False` or GENBENCH_TEST_COLD=1."""
    if warm and not warm_cli.cold():
        return warm_cli.run(exe, args, Path(cwd), timeout, env or genbench_env(), genbench_env())
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env or genbench_env())


def run_script(script: Path, args: list[str], cwd: Path, timeout: float = 300, env: dict | None = None
               ) -> subprocess.CompletedProcess:
    """`python script args` in `cwd` (a benchmark, the GPU check), warm as run_genbench unless GENBENCH_TEST_COLD=1:
    the script runs as __main__ with its folder first on sys.path, as `python script.py` runs it."""
    env = env or dict(os.environ)
    if not warm_cli.cold():
        return warm_cli.run(str(script), args, Path(cwd), timeout, env, genbench_env())
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def start_genbench(args: list[str], cwd: Path, env: dict | None = None, exe: str = "genbench",
                   terminal: int | None = None):
    """Start the console script and return at once (for a test that signals it or runs a second command beside
    it): a Popen-like process whose communicate() gives (stdout and stderr together, None), warm as run_genbench.
    `terminal`: a pseudo-terminal's secondary end (a file descriptor) as its stdin, stdout and stderr instead."""
    env = env or genbench_env()
    if not warm_cli.cold():
        return warm_cli.start(exe, args, Path(cwd), env, genbench_env(), merge=True,
                              terminal=None if terminal is None else os.ttyname(terminal))
    if terminal is not None:
        return subprocess.Popen([exe, *args], cwd=cwd, env=env, stdin=terminal, stdout=terminal, stderr=terminal)
    return subprocess.Popen([exe, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def assert_resumed_like_twin(run: Path, twin: Path, steps: int) -> dict:
    """`run`, stopped and resumed once to `steps`, is completed and holds the uninterrupted `twin`'s weights to the
    bit; returns its last checkpoint's state_dict."""
    import torch

    record = read_json(run / "run.json")
    assert record["status"] == "completed" and record["generator_steps"] == steps and record["attempts"] == 2
    resumed, uninterrupted = (torch.load(r / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
                              ["state_dict"] for r in (run, twin))
    assert resumed.keys() == uninterrupted.keys()
    for key in resumed:
        assert torch.equal(resumed[key], uninterrupted[key]), key
    return resumed


STEP = re.compile(r"\] - step (\d+)/")


def wait_for_step(run, step: int, proc, timeout: float = 300) -> None:
    """Until the run's log shows a training log line at generator step >= `step` (this process is training)."""
    log, deadline = run / "genbench.log", time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        lines = log.read_text().splitlines() if log.is_file() else []
        if any(int(m.group(1)) >= step for m in map(STEP.search, lines) if m):
            return
        time.sleep(0.3)
    raise AssertionError(f"no log line at step {step} within {timeout} s")


# Under pytest-xdist a long test started last is the suite's tail: start the longest first (measured, 2 cores).
LONGEST_FIRST = ("test_default_run_covers_the_ring", "test_study_runs_every_method_under_every_scheme",
                 "test_family_table_runs_every_family", "test_mnist_likelihood_table_prints_every_family",
                 "test_sigterm_to_rank_0", "test_batch_semantics_and_resume", "test_local_parallel_runs",
                 "test_the_issue_command", "test_regularizers_with_their_own_networks", "test_gan_families_run_as",
                 "test_sweep_killed_with_sigterm", "test_smoke_variants_of_every_table",
                 "test_submitit_local_sweep")


# A test that starts a process (the genbench executables, a script, ranks) is end to end: `slow`. Found in its
# source, the module-level helpers it calls and the fixtures it uses, so a new such test needs no marker.
STARTS_A_PROCESS = re.compile(r'(run|start)_genbench\(|run_script\(|"genbench(-table|-eval)?"\s*[,\]]|sys\.executable|'
                              r'mp\.spawn|subprocess\.(run|Popen)\(\s*\[\s*(exe\b|"(sbatch|srun|scontrol|squeue))')


def _starts_a_process(item) -> bool:
    import inspect

    module = item.module
    seen: set = set()
    todo = [item.function] + [defs[-1].func for defs in item._fixtureinfo.name2fixturedefs.values() if defs]
    while todo:
        func = todo.pop()
        if func in seen:
            continue
        seen.add(func)
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            continue
        if STARTS_A_PROCESS.search(source):
            return True
        for name in re.findall(r"\b([A-Za-z_]\w*)\(", source):
            helper = getattr(module, name, None)
            if inspect.isfunction(helper) and helper.__module__ == module.__name__:
                todo.append(helper)
    return False


def pytest_itemcollected(item):
    """The tests sharing a module-scoped fixture (a study, a SLURM sweep) go to one worker (`--dist loadgroup`,
    pyproject's addopts), so that the fixture is computed once, not once per worker. Marked as each test is
    collected: pytest-xdist reads the markers in its own pytest_collection_modifyitems, which may run before
    this file's."""
    shared = sorted(name for name, defs in item._fixtureinfo.name2fixturedefs.items()
                    if defs and defs[-1].scope == "module" and defs[-1].baseid)
    if shared:
        item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}:{shared[0]}"))


def pytest_collection_modifyitems(config, items):
    """End-to-end tests marked `slow`; longest first, a group's tests together."""
    for item in items:
        if not item.get_closest_marker("slow") and _starts_a_process(item):
            item.add_marker(pytest.mark.slow)

    def rank(item) -> int:
        for i, name in enumerate(LONGEST_FIRST):
            if item.name.startswith(name):
                return i
        return len(LONGEST_FIRST) + (0 if item.get_closest_marker("slow") else 1)

    def group(item) -> str:
        marker = item.get_closest_marker("xdist_group")
        return marker.args[0] if marker else ""

    # A group's tests stay together, at its first member's rank: pytest tears a module-scoped fixture down when
    # the next test on the worker comes from another module, and the next member would compute it again.
    group_rank: dict[str, int] = {}
    for item in items:
        if group(item):
            group_rank[group(item)] = min(group_rank.get(group(item), rank(item)), rank(item))
    items.sort(key=lambda item: (group_rank.get(group(item), rank(item)), group(item)))  # stable: file order
