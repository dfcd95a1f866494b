"""The one date parser and the one duration parser for text users write.

Dates: ISO ``YYYY-MM-DD`` (00:00 UTC that day) or ``YYYY-MM-DDTHH:MM[:SS]`` (a space may
replace the ``T``), read as UTC unless an offset (``Z``, ``+09:00``) is given; TOML dates
and datetimes are accepted as they are. Anything else is refused: ``05/08/2024`` is
ambiguous (5 August or May 8), and the error says both readings. Where allowed,
``"latest"`` means "no bound" (``None``).

Durations: one or more ``<number><unit>`` parts, unit ``w``/``weeks``, ``d``/``days``,
``h``/``hours``, ``min``/``minutes``, ``s``/``seconds`` (case-insensitive), e.g. ``730D``,
``12W``, ``15min``, ``1d12h``. A bare ``m`` or ``M`` is refused (minutes or months?).

Errors are ``ConfigError`` (a ``ValueError``) whose text starts with ``what``: the option
or key the text came from. pandas is imported on first use (the CLI's ``--help`` stays fast).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING

from carryguard.signals.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

LATEST = "latest"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
_SLASHED = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_UNITS = {
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "d": "days",
    "day": "days",
    "days": "days",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "min": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "s": "seconds",
    "sec": "seconds",
    "second": "seconds",
    "seconds": "seconds",
}
_MONTHS = "January February March April May June July August September October November December".split()  # noqa: SIM905


def parse_date(value: object, *, what: str = "", allow_latest: bool = False) -> pd.Timestamp | None:
    """``value`` (ISO text, a date or a datetime) as a UTC timestamp; ``"latest"`` (and
    ``None``) give None where ``allow_latest``. ``ConfigError`` naming ``what`` otherwise
    (no ``what``: the message starts with the value, as a command-line option type wants)."""
    import pandas as pd

    lead = f"{what}: " if what else ""
    if value is None or (allow_latest and value == LATEST):
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        stamp = pd.Timestamp(value)
    elif isinstance(value, str) and (_DATE.match(value.strip()) or _TIME.match(value.strip())):
        try:
            stamp = pd.Timestamp(value.strip())
        except ValueError:
            raise ConfigError(f"{lead}{value!r} is not a calendar date", fix="use YYYY-MM-DD") from None
    else:
        fix = _date_fix(value, allow_latest)
        problem = "is ambiguous" if fix.startswith("write") and " or " in fix else "is not a date"
        raise ConfigError(f"{lead}{value!r} {problem}", fix=fix)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if not pd.Timestamp("1677-09-22", tz="UTC") <= stamp <= pd.Timestamp("2262-04-11", tz="UTC"):
        raise ConfigError(f"{lead}{value!r} is outside 1677-09-22 .. 2262-04-11", fix="pick a date in that range")
    return stamp


def _date_fix(value: object, allow_latest: bool) -> str:
    """The fix for a refused date text: both readings of ``05/08/2024``, else the format."""
    latest = " or 'latest'" if allow_latest else ""
    match = _SLASHED.match(value.strip()) if isinstance(value, str) else None
    if match:
        first, second, year = (int(g) for g in match.groups())
        readings = [
            f"{year}-{month:02d}-{day:02d} ({day} {_MONTHS[month - 1]})"
            for day, month in ((first, second), (second, first))
            if 1 <= month <= 12 and 1 <= day <= 31
        ]
        if len(set(readings)) == 2:
            return f"write {readings[0]} or {readings[1]} (ISO YYYY-MM-DD)"
        if readings:
            return f"write it as {readings[0].split()[0]} (ISO YYYY-MM-DD)"
    return f"use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC){latest}"


def parse_duration(value: object, *, what: str, positive: bool = True) -> pd.Timedelta:
    """``value`` (``"730D"``, ``"15min"``, ``"1d12h"``) as a Timedelta; ``ConfigError``
    naming ``what`` for other text, and for zero or negative lengths when ``positive``."""
    import pandas as pd

    text = value.strip().lower() if isinstance(value, str) else ""
    parts = _PART.findall(text)
    if not parts or _PART.sub("", text).strip() or text.endswith("m"):
        hint = "; write 'min' for minutes (months have no fixed length)" if text.endswith("m") else ""
        raise ConfigError(f"{what}: {value!r} is not a duration{hint}", fix="use e.g. 730D, 12W, 4h, 15min or 1d12h")
    total = pd.Timedelta(0)
    for number, unit in parts:
        if unit not in _UNITS:
            raise ConfigError(f"{what}: unknown unit {unit!r} in {value!r}", fix="use w, d, h, min or s")
        total += pd.Timedelta(**{_UNITS[unit]: float(number)})
    if positive and total <= pd.Timedelta(0):
        raise ConfigError(f"{what}: {value!r} must be longer than zero")
    return total
