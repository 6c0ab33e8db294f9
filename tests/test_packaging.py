"""Packaging: a plain (non-editable) install ships the configs and runs from any folder."""

from __future__ import annotations

import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "genbench").rglob("__init__.py")}
    assert found | {"genbench.conf"} == listed


def test_plain_install_ships_configs_and_runs_anywhere(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(REPO)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("genbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("genbench/conf/") for n in names if n.startswith("genbench/conf/")}
    expected = {str(p.relative_to(REPO / "conf")) for p in (REPO / "conf").rglob("*.yaml")}
    assert expected <= shipped
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # genbench's dependencies from this environment, wherever it is (a venv, conda, the system): its
    # site-packages as plain path entries (their .pth files, e.g. an editable genbench, are not processed)
    ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([venv / "bin" / "python", "-c", ask], capture_output=True, text=True,
                             check=True).stdout.strip()
    Path(purelib, "_outer_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    where = subprocess.run([venv / "bin" / "python", "-c", "import genbench, os; print(genbench.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert str(venv) in where and str(REPO) not in where
    out = subprocess.run([venv / "bin" / "genbench", "--cfg", "job", "model=wgan_gp"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "genbench.regs.gp.GradientPenalty" in out.stdout
