"""Errors a user can fix: printed as one line, never as a traceback."""


class GenbenchError(Exception):
    """Base of every user-facing error."""


class ConfigError(GenbenchError, ValueError):
    """A config value is invalid; the message names the key and the fix."""


class StorageError(GenbenchError, OSError):
    """A file of the run could not be written (a full disk, a read-only folder); the message names it."""


def one_line(err: BaseException) -> str:
    """The user-facing line of an error. An error raised in a DataLoader worker comes back with the worker's
    traceback in its message: its last line holds the original message."""
    text = str(err).strip()
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        name, sep, rest = last.partition(": ")
        text = rest if sep and name.replace(".", "").replace("_", "").isalnum() else last
    return " ".join(text.split("\n")[0].split()) if "\n" in text else text


def storage_error(path, err: OSError) -> StorageError:
    """A StorageError for a failed write of `path`."""
    why = err.strerror or str(err)
    return StorageError(f"cannot write {path}: {why}; free space or fix the folder's permissions, then continue "
                        "the run with resume=<run dir> (its last complete checkpoint, if any, is kept)")
