"""The docs: docs/ builds as a site with mkdocs in strict mode (a broken link or anchor fails), every page is in
the navigation, every link in the README leads somewhere, and the README stays a five-minute read."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_the_site_builds_strictly(tmp_path):
    if shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed: bash scripts/install.sh (the test extra) installs it")
    proc = subprocess.run(["mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "vaes" / "index.html").is_file()


def test_every_page_is_in_the_navigation():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    listed = {next(iter(entry.values())) for entry in config["nav"]}
    assert listed == {p.name for p in (REPO / "docs").glob("*.md")}


def test_every_relative_link_in_the_readme_and_the_pages_exists():
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for target, _anchor in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_readme_is_a_five_minute_read():
    text = (REPO / "README.md").read_text()
    assert len(text) < 20_000, len(text)
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert first_block[0].startswith("bash scripts/install.sh && genbench")
    assert first_block[1].startswith("python -m pytest -q -n auto")
