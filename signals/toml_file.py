"""Reading the TOML files users write (studies, overlay, risk and crisis-window configs)."""

from __future__ import annotations

import tomllib
from os import PathLike
from pathlib import Path

from carryguard.signals.errors import CarryguardError


def read_toml(path: str | PathLike, *, what: str, error: type[CarryguardError] = CarryguardError) -> dict:
    """The parsed document; a missing, unreadable or invalid file raises ``error`` with
    one line naming the file and ``what`` it was meant to be."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} file {path} not found", fix="pass an existing .toml file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror})", fix="check the path") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: {what} is not valid TOML ({exc})", fix="fix the file") from None
