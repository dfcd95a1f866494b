"""Errors that reach the user as one clear line (exit code 1 in the CLI)."""

from __future__ import annotations


class CarryguardError(Exception):
    """A runtime or data problem the user can fix; ``str()`` is the whole message."""

    def __init__(self, what: str, *, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}; {fix}" if fix else what)


class DataError(CarryguardError):
    """Bad, missing or inconsistent data: names the file/series/row and the fix."""


class SourceError(CarryguardError):
    """A remote source failed (unreachable, rejected the request, returned garbage)."""


class ConfigError(CarryguardError, ValueError):
    """A configuration file, table or option the user wrote is wrong: names the file,
    table and key, and the fix (also a ``ValueError``, as config constructors raise)."""
