"""Fetch, check and unpack the official data files of the real-image datasets.

Why this exists: a run must either find byte-identical official files or stop at once with a
message that says exactly which files to put where. A download that hangs, a half-written file, or
a silently corrupted archive would otherwise surface hours later as a strange training curve.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from genbench.errors import GenbenchError

log = logging.getLogger(__name__)

ENV_VAR = "GENBENCH_DATA"
"""Environment variable naming a folder with one subfolder per dataset (``$GENBENCH_DATA/mnist``)."""

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One official data file: its name on disk, its md5, and the URLs to try in order."""

    name: str
    md5: str
    urls: tuple[str, ...]


class DataUnavailableError(GenbenchError, RuntimeError):
    """The data files of a dataset are missing, damaged or unreadable; the message says how to fix it.

    ``reason`` keeps the bare cause of a failed download (None otherwise), so callers can re-word the
    message without parsing it.
    """

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason


def md5sum(path: str | os.PathLike) -> str:
    """The md5 hex digest of a file, read in chunks so large archives do not fill memory."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(path: Path, expected: str) -> None:
    """Raise DataUnavailableError when ``path`` is not the official file (a wrong md5)."""
    actual = md5sum(path)
    if actual != expected:
        raise DataUnavailableError(
            f"The file {path} is damaged or not the official one: its md5 is {actual} but {expected} "
            f"was expected. Delete it (it is downloaded again when downloads are allowed) or replace it "
            f"with the official file."
        )


def sources_of(files: Sequence[RemoteFile]) -> list[str]:
    """The distinct places the files come from: the folder URL when a URL ends with the file name."""
    seen: dict[str, None] = {}
    for file in files:
        for url in file.urls:
            base = url[: -len(file.name)] if url.endswith("/" + file.name) else url
            seen.setdefault(base, None)
    return list(seen)


def unavailable_error(
    dataset: str,
    root: Path,
    missing: Sequence[str],
    urls: Sequence[str],
    *,
    reason: str | None = None,
    subfolder: str | None = None,
    extra: str | None = None,
) -> DataUnavailableError:
    """Build the one-paragraph error that says which files are missing, where they go, and from where."""
    names = ", ".join(missing)
    files, them = (f"the file {names} is", "it") if len(missing) == 1 else (f"the files {names} are", "them")
    where = " or ".join(urls) if urls else "the dataset's official site"
    sub = subfolder or root.name or "<dataset>"
    why = f", and the download failed ({reason})" if reason else " and downloading is turned off"
    text = (
        f"{dataset} data is not available: {files} missing from {root}{why}. "
        f"Download {them} from {where} and put {them} in {root}. "
    )
    if extra:
        text += extra.rstrip() + " "
    text += (
        f"To use another folder, set dataset.root=<dir> on the command line, or set the environment "
        f"variable {ENV_VAR} to a folder holding one subfolder per dataset (e.g. ${ENV_VAR}/{sub})."
    )
    return DataUnavailableError(text, reason)


def _fetch(url: str, target: Path, expected_md5: str, timeout: float) -> None:
    """Download ``url`` into ``target`` through a ``.part`` file; raise OSError on any failure."""
    part = target.with_name(f"{target.name}.{os.getpid()}.part")  # one per process: DDP ranks may race
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)
        actual = md5sum(part)
        if actual != expected_md5:
            raise OSError(f"{url} gave a file with md5 {actual}, expected {expected_md5}")
        os.replace(part, target)
    except HTTPException as err:  # e.g. IncompleteRead: not an OSError, same meaning here
        raise OSError(f"{type(err).__name__}: {err}") from err
    finally:
        part.unlink(missing_ok=True)


def ensure_files(
    root: Path,
    files: Sequence[RemoteFile],
    dataset: str,
    download: bool = True,
    timeout: float = 15.0,
    *,
    verify: bool = True,
    subfolder: str | None = None,
) -> None:
    """Make sure every file is in ``root`` with its official md5, downloading the missing ones.

    Present files are md5-checked (unless ``verify`` is False) and never overwritten. Missing files are
    downloaded only when ``download`` is True; each network operation is bounded by ``timeout`` seconds and
    the first file that no URL can deliver ends the attempt with a DataUnavailableError naming all the
    files still missing.
    """
    root = Path(root)
    missing: list[RemoteFile] = []
    for file in files:
        path = root / file.name
        if path.is_file():
            if verify:
                check_md5(path, file.md5)
        else:
            missing.append(file)
    if not missing:
        return

    def error(reason: str | None) -> DataUnavailableError:
        names = [f.name for f in missing if not (root / f.name).is_file()]
        return unavailable_error(
            dataset, root, names, sources_of(missing), reason=reason, subfolder=subfolder
        )

    if not download:
        raise error(None)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise error(f"cannot create the folder: {err}") from err
    for file in missing:
        failures: list[str] = []
        for url in file.urls:
            log.info("%s: downloading %s", dataset, url)
            try:
                _fetch(url, root / file.name, file.md5, timeout)
                break
            except (OSError, ValueError) as err:  # URLError and socket timeouts are OSErrors
                failures.append(f"{url}: {getattr(err, 'reason', None) or err}")
        else:
            raise error("; ".join(failures) or "no URL is known")


def extract_tar_gz(archive: Path, dest: Path) -> None:
    """Unpack a .tar.gz into ``dest``, refusing members that would land outside it.

    Uses tarfile's ``"data"`` filter where Python has it (3.12, and 3.8-3.11 security releases);
    elsewhere the same path checks are made by hand before extracting.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, filter="data")
                return
            base = dest.resolve()
            for member in tar.getmembers():
                target = (base / member.name).resolve()
                if base not in (target, *target.parents) or member.issym() or member.islnk():
                    raise DataUnavailableError(f"{archive}: refusing to extract unsafe member {member.name}")
                if not (member.isfile() or member.isdir()):
                    raise DataUnavailableError(f"{archive}: refusing to extract special member {member.name}")
            tar.extractall(dest)  # noqa: S202 - every member was checked above
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataUnavailableError(
            f"Cannot extract {archive} into {dest}: {err}. Delete the archive and download it again."
        ) from err
