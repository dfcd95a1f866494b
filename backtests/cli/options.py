"""Click parameter types: the CLI's one date and one duration option type (over
``signals.timeparse``) and its one number type, ``Finite`` (a bad value is a usage error,
exit 2, naming the option)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click

from carryguard.signals.errors import ConfigError
from carryguard.signals.timeparse import parse_date, parse_duration

if TYPE_CHECKING:
    import pandas as pd


def _option(param: click.Parameter | None) -> str:
    return f"--{param.name.replace('_', '-')}" if param is not None and param.name else "value"


class UtcTime(click.ParamType):
    """``YYYY-MM-DD[THH:MM]`` as a UTC timestamp."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> pd.Timestamp | None:
        try:
            return parse_date(value, what=_option(param))
        except ConfigError as exc:
            self.fail(str(exc).removeprefix(f"{_option(param)}: "), param, ctx)


class Duration(click.ParamType):
    """A positive duration such as ``730D``, ``4h`` or ``15min`` as a Timedelta."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> pd.Timedelta:
        import pandas as pd

        if isinstance(value, pd.Timedelta):
            return value
        try:
            return parse_duration(value, what=_option(param))
        except ConfigError as exc:
            self.fail(str(exc).removeprefix(f"{_option(param)}: "), param, ctx)


class Finite(click.FloatRange):
    """A finite number within ``[min, max]`` (``min_open``/``max_open`` exclude the bound):
    ``click.FloatRange`` alone lets ``nan`` through every bound, and ``inf`` through a lower one."""

    name = "NUMBER"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


UTC_TIME = UtcTime()
DURATION = Duration()
