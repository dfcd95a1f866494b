"""When a value dated D becomes usable: each series' publication-time rule.

A decision at time t may use a value only if ``available_at(value) <= t``. Rules:

- ``bar_close``: a bar stamped with its open time is known at open + timeframe.
- ``next_utc_day``: end-of-day publications (MOF JGB Tokyo close, FRED H.15 yields,
  OECD) are usable from 00:00 UTC of the next calendar day.
- ``h10_weekly``: FRED DEXJPUS (Fed H.10) fixes at noon New York but is published only
  weekly, on the Monday after the week of D at 16:15 New York; when that Monday is a US
  federal holiday (the Fed is closed) the release moves to the Tuesday.
- ``day_open``: a value stamped D that is the price at 00:00 UTC of D (Bitstamp table),
  known one minute after midnight.
- ``month_after``: a monthly average for month M, usable from the first day of M+2
  (FRED posts OECD monthly averages weeks after the month ends).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from pandas.tseries.holiday import USFederalHolidayCalendar

RULES = ("bar_close", "next_utc_day", "h10_weekly", "day_open", "month_after")


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    """``'4h'`` -> 4 hours, ``'1d'`` -> 1 day, ``'1w'`` -> 7 days (ccxt spelling; no months,
    whose length varies)."""
    units = {"s": "s", "m": "min", "h": "h", "d": "D", "w": "W"}
    number, unit = timeframe[:-1], timeframe[-1]
    if not number.isdigit() or unit not in units:
        raise ValueError(f"unknown timeframe {timeframe!r}: use e.g. 1h, 4h, 1d")
    return pd.Timedelta(int(number), unit=units[unit])


@functools.cache
def _fed_holidays(first_year: int, last_year: int) -> pd.DatetimeIndex:
    """US federal holidays of the years (cached: pandas builds them slowly, ~50 ms for
    fifty years, and every cut of a DEXJPUS series asks again)."""
    return USFederalHolidayCalendar().holidays(f"{first_year}-01-01", f"{last_year}-12-31").as_unit("ns")


def _fed_holiday(days: pd.DatetimeIndex) -> np.ndarray:
    """Which ``days`` (naive midnights) are US federal holidays, on which the Fed
    publishes nothing (a holiday on a Sunday is observed on the Monday)."""
    if not len(days):
        return np.zeros(0, dtype=bool)
    return days.as_unit("ns").isin(_fed_holidays(days.min().year, days.max().year))


def available_at(index: pd.DatetimeIndex, rule: str, timeframe: str | None = None) -> pd.DatetimeIndex:
    """Map the timestamps of a series to the UTC times their values become usable."""
    if rule == "bar_close":
        if timeframe is None:
            raise ValueError("rule 'bar_close' needs the bar timeframe")
        return index + timeframe_delta(timeframe)
    if rule == "next_utc_day":
        return index.normalize() + pd.Timedelta(days=1)
    if rule == "h10_weekly":
        day = index.tz_localize(None).normalize()
        monday = day + pd.to_timedelta(7 - day.day_of_week, unit="D")
        release_day = monday + pd.to_timedelta(_fed_holiday(monday).astype("int64"), unit="D")
        release = pd.DatetimeIndex(release_day + pd.Timedelta(hours=16, minutes=15))
        return release.tz_localize("America/New_York").tz_convert("UTC")
    if rule == "day_open":
        return index.normalize() + pd.Timedelta(minutes=1)
    if rule == "month_after":
        return (index.normalize() + pd.offsets.MonthBegin(2)).normalize()
    raise ValueError(f"unknown availability rule {rule!r}; known: {', '.join(RULES)}")
