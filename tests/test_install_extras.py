"""The cluster extra (hydra-submitit-launcher, hydra-optuna-sweeper) never brings a pre-release hydra-core or a
second torch: checked on the declared requirements (offline), on the installed environment (offline), and by
asking pip what adding the extra to this environment would install (PyPI; skipped when unreachable)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata

import pytest
from conftest import REPO
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# hydra-core's pre-releases on PyPI (hydra-submitit-launcher 1.2 asks for hydra-core>=1.1.0.dev7, a pre-release
# specifier, so pip would consider all of these unless genbench's own pin excludes them).
HYDRA_PRERELEASES = ["1.4.0rc3", "1.4.0rc1", "1.4.0.dev10", "1.4.0.dev1", "1.3.0.dev1", "1.3.0.dev0"]


def requirement(name: str, extra: str | None = None) -> Requirement:
    reqs = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    return next(Requirement(r) for r in reqs if Requirement(r).name == name)


def test_core_pins_exclude_every_hydra_prerelease_whatever_the_extras_allow():
    hydra = requirement("hydra-core").specifier
    omegaconf = requirement("omegaconf").specifier
    for version in HYDRA_PRERELEASES:
        assert not hydra.contains(version, prereleases=True), version
    assert hydra.contains("1.3.8") and omegaconf.contains("2.3.1") and not omegaconf.contains("2.4.0.dev1",
                                                                                                prereleases=True)
    cluster = {Requirement(r).name for r in PROJECT["optional-dependencies"]["cluster"]}
    assert {"hydra-submitit-launcher", "hydra-optuna-sweeper", "optuna", "sqlalchemy"} <= cluster
    assert "torch" not in cluster and "hydra-core" not in cluster  # one torch pin, one hydra pin: the core's
    # optuna 2.x's SQL storage fails with SQLAlchemy 2 (the Optuna search keeps its study in SQLite)
    assert not requirement("sqlalchemy", "cluster").specifier.contains("2.0.0")


def closure(roots: list[str]) -> dict[str, metadata.Distribution]:
    """Installed distributions reachable from `roots` (requirement strings) through their requirements."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{req.name} ({req}) is not installed: run bash scripts/install.sh")
        assert req.specifier.contains(dist.version, prereleases=True), f"{req.name} {dist.version} breaks {req}"
        seen[name] = dist
        todo += [Requirement(r) for r in dist.requires or [] if ";" not in r or "extra ==" not in r]
    return seen


def test_installed_environment_has_one_torch_and_no_prerelease_hydra():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the cluster extra is not installed")
    reqs = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["cluster"]
    dists = closure(reqs)
    for name in ("hydra-core", "omegaconf", "hydra-submitit-launcher", "hydra-optuna-sweeper", "submitit", "optuna"):
        assert not Version(dists[name].version).is_prerelease, (name, dists[name].version)
    torches = [d for d in metadata.distributions() if (d.metadata["Name"] or "").lower() == "torch"]
    assert len({(d.version, str(d.locate_file(""))) for d in torches}) == 1, [d.version for d in torches]
    import torch

    assert torch.__version__ == torches[0].version


def test_adding_the_cluster_extra_to_this_environment_installs_nothing_else():
    """What pip would do for `pip install .[cluster]` here (torch already installed, as scripts/install.sh leaves
    it): install genbench itself and nothing else, so neither torch nor hydra-core is replaced."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the cluster extra is not installed")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-build-isolation",
                          "--disable-pip-version-check", "--report", "-", f"{REPO}[cluster]"],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0 and re.search(r"connection|resolve|network|No matching distribution", out.stderr, re.I):
        pytest.skip(f"PyPI not reachable: {out.stderr.strip().splitlines()[-1]}")
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout[out.stdout.index("{"):])
    installs = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in report["install"]}
    assert set(installs) == {"genbench"}, installs
