"""Errors a user can fix: printed as one line, never as a traceback."""


class GenbenchError(Exception):
    """Base of every user-facing error."""


class ConfigError(GenbenchError, ValueError):
    """A config value is invalid; the message names the key and the fix."""
