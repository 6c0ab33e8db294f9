"""The docs: docs/ builds as a site with mkdocs in strict mode (a broken link or anchor fails), every page is in
the navigation, every link in the README leads somewhere, and the README stays a five-minute read."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#([^)\s]*))?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def build(root: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` as CI runs it. Not -q: mkdocs counts warnings through its log, and -q hides them,
    so a quiet strict build passes with broken links."""
    if shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed: bash scripts/install.sh (the test extra) installs it")
    return subprocess.run(["mkdocs", "build", "--strict", "-d", str(site)], cwd=root, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def test_the_site_builds_strictly(tmp_path):
    proc = build(REPO, tmp_path / "site")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "vaes" / "index.html").is_file()


def test_a_broken_link_fails_the_build(tmp_path):
    shutil.copy(REPO / "mkdocs.yml", tmp_path)
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    with open(tmp_path / "docs" / "speed.md", "a") as page:
        page.write("\n[gone](no-such-page.md), [no anchor](vaes.md#no-such-heading)\n")
    proc = build(tmp_path, tmp_path / "site")
    assert proc.returncode != 0
    assert "no-such-page.md" in proc.stderr and "no-such-heading" in proc.stderr, proc.stderr[-3000:]


def test_every_page_is_in_the_navigation():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    listed = {next(iter(entry.values())) for entry in config["nav"]}
    assert listed == {p.name for p in (REPO / "docs").glob("*.md")}


def anchors(page: Path) -> set[str]:
    """The heading ids mkdocs gives a page (Python-Markdown's toc slugify, separator '-')."""
    def slug(title: str) -> str:
        text = unicodedata.normalize("NFKD", title.replace("`", "")).encode("ascii", "ignore").decode()
        return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())
    return {slug(title) for title in HEADING.findall(page.read_text())}


def test_every_relative_link_in_the_readme_and_the_pages_exists():
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for target, anchor in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path = page.parent / target
            assert path.exists(), f"{page.name} links to {target}, which does not exist"
            if anchor and path.suffix == ".md":
                assert anchor in anchors(path), f"{page.name} links to {target}#{anchor}: no such heading"


def test_the_anchor_check_knows_mkdocs_ids():
    ids = anchors(REPO / "docs" / "clusters.md")
    assert "sweeps-on-a-cluster-slurm-and-on-this-machine-local_parallel" in ids
    assert "several-devices-ddp" in ids


def test_the_readme_is_a_five_minute_read():
    text = (REPO / "README.md").read_text()
    assert len(text) < 20_000, len(text)
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert first_block[0].startswith("bash scripts/install.sh && genbench")
    assert first_block[1].startswith("python -m pytest -q -n auto")
