"""Click parameter types: the CLI's one date and one duration option type (over
``signals.timeparse``), its one number type, ``Finite``, its one list option, ``ListOption``
(repeatable, commas accepted), and ``MetricName`` (a bad value is a usage error, exit 2,
naming the option and the nearest valid name)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from carryguard.signals.config import closest
from carryguard.signals.errors import ConfigError
from carryguard.signals.timeparse import LATEST, parse_date, parse_duration

if TYPE_CHECKING:
    import pandas as pd

F = TypeVar("F", bound=Callable[..., Any])


def _option(param: click.Parameter | None) -> str:
    return f"--{param.name.replace('_', '-')}" if param is not None and param.name else "value"


def plain_type(name: str, convert: Callable[[str], Any]) -> click.ParamType:
    """A click type that calls ``convert(text)`` with the text alone (never the click
    context); a ``ValueError`` (``ConfigError`` is one) is a usage error naming the option."""
    kind: click.ParamType = click.types.FuncParamType(convert)
    kind.name = name
    return kind


def end_time(text: str) -> pd.Timestamp | str:
    """``--end``: a date, or ``latest`` kept as the word (it opens a study's end)."""
    return LATEST if text == LATEST else parse_date(text)


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


def finite(value: Any) -> float:
    """``value`` as a float; ValueError for ``nan`` and ``inf`` (which ``float`` accepts)."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


class Finite(click.FloatRange):
    """A finite number within ``[min, max]`` (``min_open``/``max_open`` exclude the bound):
    ``click.FloatRange`` alone lets ``nan`` through every bound, and ``inf`` through a lower
    one. Only the number class differs (click calls it with the text alone)."""

    name = "NUMBER"
    _number_class = staticmethod(finite)  # type: ignore[assignment]  # click calls it as float(text)


UTC_TIME = plain_type("DATE", parse_date)  # YYYY-MM-DD[THH:MM] as a UTC timestamp
END_TIME = plain_type("DATE", end_time)
DURATION = Duration()


COMMAS = re.compile(r",")
PAIRS = re.compile(r",(?=\s*[A-Za-z_][\w.]*=|\s*$)")  # KEY=VALUE lists: split only before the next KEY=


class ListOption(click.Option):
    """A multi-value option, spelled the same way on every verb: repeatable (``--symbol A --symbol B``)
    and comma-separated (``--symbol A,B``), or both. ``aliases`` are older spellings still accepted but
    left out of ``--help``; ``split`` is where a value is cut (``PAIRS`` keeps ``w=[1,2]`` whole)."""

    def __init__(
        self, param_decls: Sequence[str], *, aliases: Sequence[str] = (), split: re.Pattern[str] = COMMAS, **kwargs: Any
    ) -> None:
        note = "Repeatable; commas accepted."
        help_text = kwargs.get("help") or ""
        kwargs["help"] = f"{help_text} {note}".strip() if note not in help_text else help_text
        super().__init__([*param_decls, *aliases], multiple=True, **kwargs)
        self.aliases = tuple(aliases)
        self.split = split

    def type_cast_value(self, ctx: click.Context, value: Any) -> Any:
        if value is None or isinstance(value, str):  # a string default is one comma-separated value
            value = () if value is None else (value,)
        items = tuple(
            part.strip()
            for item in value
            for part in (self.split.split(item) if isinstance(item, str) else [item])
            if not isinstance(part, str) or part.strip()
        )
        if value and not items:
            raise click.BadParameter("give at least one value", ctx=ctx, param=self)
        return super().type_cast_value(ctx, items)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def list_option(*param_decls: str, **kwargs: Any) -> Callable[[F], F]:
    """``click.option`` for a ``ListOption`` (see there); the value is a tuple."""
    return click.option(*param_decls, cls=ListOption, **kwargs)


class MetricName(click.ParamType):
    """A metric by its name, case-insensitively (``"sharpe ratio"``) or an alias (``sharpe``, ``maxdd``);
    an unknown one is a usage error naming the nearest valid name. ``names`` is called on first use
    (the metric tables import pandas: ``--help`` stays fast)."""

    name = "METRIC"

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        self.names = names

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from carryguard.backtests.report.compare import SORT_ALIASES

        valid = list(self.names())
        spellings = {name.lower(): name for name in valid}
        spellings.update({alias: name for alias, name in SORT_ALIASES.items() if name in valid})
        wanted = str(value).strip().lower()
        if wanted in spellings:
            return spellings[wanted]
        near = closest(wanted, spellings)
        hint = f"did you mean {spellings[near]!r}?" if near else f"use one of: {', '.join(valid)}"
        self.fail(f"unknown metric {value!r}; {hint}", param, ctx)


RESULTS_DIR_OPTION = click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Where the run folder <YYYYmmdd-HHMMSS>-<study> is written.",
)


class Choice(click.Choice):
    """``click.Choice`` whose error also names the nearest valid value (click converts a
    valid value on its own: this runs only for a wrong one)."""

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        choices = [str(c) for c in self.choices]
        near = closest(str(value), choices)
        hint = f"did you mean {near!r}? " if near else ""
        return f"unknown value {value!r}; {hint}choose one of: {', '.join(choices)}"


PARAM_OPTION = list_option(
    "--param",
    "params",
    split=PAIRS,
    metavar="KEY=VALUE",
    help="Strategy parameter, e.g. fast=20 or fast=20,slow=100 (VALUE read as JSON, else text).",
)
