"""How old is the risk reading, by the wall clock? One rule for ``risk`` and ``paper run``.

A reading's own "days old" figures are measured from the reading's date; this compares the
reading's time with now. Older than ``--max-age`` (default 3 days): a warning line first,
``fresh: false`` in JSON, and with ``--require-fresh`` exit 1 (fail closed for scripts and bots).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import click

from carryguard.backtests.cli.console import say
from carryguard.signals.errors import DataError

if TYPE_CHECKING:  # pandas and the store load in the verbs that use them: `--help` stays fast
    import pandas as pd

    from carryguard.signals.store import Store

MAX_AGE_DAYS = 3.0
F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Freshness:
    """The reading's age by the wall clock and whether it is within ``max_age_days``."""

    as_of: datetime  # a pd.Timestamp is one too
    age_days: float
    max_age_days: float

    @property
    def fresh(self) -> bool:
        return self.age_days <= self.max_age_days

    def to_json(self) -> dict[str, object]:
        return {"age_days": round(self.age_days, 3), "fresh": self.fresh, "max_age_days": self.max_age_days}

    def warning(self) -> str:
        return (
            f"warning: the risk reading is from {self.as_of:%Y-%m-%d %H:%M} UTC, {self.age_days:.1f} days ago "
            f"(older than --max-age {self.max_age_days:g} days); bring the data up to date with `carryguard data fetch`"
        )


def wall_clock() -> datetime:
    """Now, UTC (without pandas: a cached ``risk`` reading is judged without importing it)."""
    return datetime.now(UTC)


def freshness(as_of: datetime, max_age_days: float, now: datetime | None = None) -> Freshness:
    """The age of a reading taken at ``as_of``, by ``now`` (default: the wall clock, UTC)."""
    clock = now if now is not None else wall_clock()
    return Freshness(as_of, (clock - as_of) / timedelta(days=1), max_age_days)


def freshness_options(command: F) -> F:
    """``--max-age DAYS`` and ``--require-fresh`` (parameters ``max_age``, ``require_fresh``)."""
    command = click.option(
        "--require-fresh",
        is_flag=True,
        help="Exit 1 when the reading is older than --max-age (for scripts and bots: fail closed).",
    )(command)
    return click.option(
        "--max-age",
        type=click.FloatRange(min=0),
        default=MAX_AGE_DAYS,
        show_default=True,
        metavar="DAYS",
        help="A reading older than this (by the wall clock) is stale: a warning first, fresh: false in JSON.",
    )(command)


def guard(as_of: datetime, max_age: float, require_fresh: bool, *, warn: bool = True) -> Freshness:
    """Check a reading: print the warning line (when ``warn``) and, with ``require_fresh``, refuse a stale one."""
    state = freshness(as_of, max_age)
    if not state.fresh:
        if require_fresh:
            raise DataError(state.warning().removeprefix("warning: "), fix="or drop --require-fresh")
        if warn:
            say(state.warning(), err=True)
    return state


def latest_reading(store: Store) -> pd.Timestamp | None:
    """When the stored inputs last support a risk reading (default config); None when one is missing
    (then whatever uses the index fails closed on its own)."""
    from carryguard.signals.pit import MemoryStore
    from carryguard.signals.risk import RiskConfig, latest_time

    config = RiskConfig()
    if not all(store.exists(sid) for sid in config.inputs().values()):
        return None
    return latest_time(MemoryStore.load(store, config.series_ids()), config)
