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
- ``fx_snapshot``: a Yahoo daily FX bar (``JPY=X``, ``AUDJPY=X``); see ``fx_times``
  (the close of a bar dated D from 2010-09 is a snapshot taken minutes after 00:00 London
  of D, its high/low span the whole day). Whole rows count from the bar close.
- ``next_us_business_day``: FRED's copy of the Cboe VIX close of D (16:15 New York) is
  posted during the next US business day; usable from 16:00 New York that day.
- ``cot_release``: CFTC Commitments of Traders positions as of D (a Tuesday), released
  on Friday 15:30 New York; see ``cot_release_times`` (holiday weeks, shutdowns).
- ``at_time``: a value settled at its own timestamp (Binance funding rates).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from pandas.tseries.holiday import USFederalHolidayCalendar

RULES = (
    "bar_close",
    "next_utc_day",
    "h10_weekly",
    "day_open",
    "month_after",
    "fx_snapshot",
    "next_us_business_day",
    "cot_release",
    "at_time",
)


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
    if rule in MORE_RULES:
        return more_available_at(index, rule)
    raise ValueError(f"unknown availability rule {rule!r}; known: {', '.join(RULES)}")


MORE_RULES = ("fx_snapshot", "next_us_business_day", "cot_release", "at_time")
# Yahoo's daily FX close became a start-of-day snapshot in August 2010 (benchmarks/fx_timing.py:
# the monthly median |close - open| of JPY=X falls from 0.3-0.6% to ~0.01% that month, and from
# then close sits next to the previous day's noon fixing; until 2009 it is an end-of-day value
# next to the same day's fixing). September 2010 on, with August as margin.
FX_SNAPSHOT_SINCE = pd.Timestamp("2010-09-01")
FX_SNAPSHOT_FIELDS = ("open", "close")
# CFTC releases held back by a lapse in appropriations: (first report date held back, last
# one, when the catch-up was complete). 2013 and 2018-19: the CFTC's announced catch-ups
# ended by 2013-11-22? (not confirmed here: counted from 2013-12-06) and 2019-03-08; 2025:
# the catch-up calendar (CFTC, 2025-11-18) ends with the report published 2026-01-23.
COT_SHUTDOWNS = (
    ("2013-10-01", "2013-11-19", "2013-12-06"),
    ("2018-12-19", "2019-03-05", "2019-03-08"),
    ("2025-09-30", "2026-01-20", "2026-01-23"),
)


def _ny(days: pd.DatetimeIndex, hours: int, minutes: int = 0) -> pd.DatetimeIndex:
    """Naive midnights + a New York wall-clock time, as UTC."""
    local = pd.DatetimeIndex(days + pd.Timedelta(hours=hours, minutes=minutes))
    return local.tz_localize("America/New_York").tz_convert("UTC")


def next_us_business_day(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The first weekday after each day that is not a US federal holiday."""
    out = days + pd.Timedelta(days=1)
    for _ in range(6):  # at most a weekend plus a holiday Monday (and Tuesday) to skip
        closed = (out.day_of_week >= 5) | _fed_holiday(out)
        if not closed.any():
            break
        out = out + pd.to_timedelta(closed.astype("int64"), unit="D")
    return pd.DatetimeIndex(out)


def fx_times(index: pd.DatetimeIndex, field: str | None = None) -> pd.DatetimeIndex:
    """When a Yahoo daily FX bar dated D is known: ``open``/``close`` of bars from
    ``FX_SNAPSHOT_SINCE`` at 01:00 London of D (the snapshot is minutes after 00:00 London;
    one hour of margin); high/low, whole rows (``field=None``) and older bars at the bar
    close, 00:00 UTC of D+1 (after 00:00 London of D+1 in both seasons)."""
    days = index.tz_localize(None).normalize() if index.tz is not None else index.normalize()
    close = (pd.DatetimeIndex(days) + pd.Timedelta(days=1)).tz_localize("UTC")
    if field not in FX_SNAPSHOT_FIELDS:
        return close
    snap = pd.DatetimeIndex(days + pd.Timedelta(hours=1)).tz_localize("Europe/London").tz_convert("UTC")
    return _pick(np.asarray(days >= FX_SNAPSHOT_SINCE), snap, close)


def _pick(mask: np.ndarray, a: pd.DatetimeIndex, b: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Elementwise ``a if mask else b`` for two UTC indexes."""
    values = np.where(mask, a.as_unit("ns").asi8, b.as_unit("ns").asi8)
    return pd.DatetimeIndex(pd.to_datetime(values, unit="ns", utc=True))


def cot_release_times(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """When the CFTC published positions as of each day D (normally a Tuesday).

    Friday 15:30 New York of D's week; when a US federal holiday falls on a weekday of
    that week the release is counted from the next business day after that Friday
    (the CFTC then publishes on Monday; a Monday holiday before the as-of Tuesday usually
    does not delay it, so this errs late, never early). Reports held back by a shutdown
    count from the end of that catch-up (``COT_SHUTDOWNS``)."""
    days = index.tz_localize(None).normalize() if index.tz is not None else index.normalize()
    days = pd.DatetimeIndex(days)
    monday = days - pd.to_timedelta(days.day_of_week, unit="D")
    friday = monday + pd.Timedelta(days=4)
    holiday_week = np.zeros(len(days), dtype=bool)
    for offset in range(5):
        holiday_week |= _fed_holiday(pd.DatetimeIndex(monday + pd.Timedelta(days=offset)))
    release = pd.DatetimeIndex(np.where(holiday_week, next_us_business_day(friday), friday))
    times = _ny(release, 15, 30)
    for first, last, cleared in COT_SHUTDOWNS:
        held = (days >= pd.Timestamp(first)) & (days <= pd.Timestamp(last))
        late = _ny(pd.DatetimeIndex([pd.Timestamp(cleared)] * len(days)), 15, 30)
        times = _pick(held & (late > times), late, times)
    return times


def more_available_at(index: pd.DatetimeIndex, rule: str, field: str | None = None) -> pd.DatetimeIndex:
    """``available_at`` for the rules of the carry-trade inputs (``MORE_RULES``)."""
    if rule == "fx_snapshot":
        return fx_times(index, field)
    if rule == "next_us_business_day":
        days = pd.DatetimeIndex(index.tz_localize(None).normalize() if index.tz is not None else index.normalize())
        return _ny(next_us_business_day(days), 16)
    if rule == "cot_release":
        return cot_release_times(index)
    if rule == "at_time":
        return index
    raise ValueError(f"unknown availability rule {rule!r}; known: {', '.join(RULES)}")


def field_available_at(
    index: pd.DatetimeIndex, rule: str, field: str, timeframe: str | None = None
) -> pd.DatetimeIndex:
    """When one column of a series is usable: as ``available_at`` except that the open and
    close of an ``fx_snapshot`` bar count from the snapshot (its high/low do not)."""
    if rule == "fx_snapshot":
        return fx_times(index, field)
    return available_at(index, rule, timeframe)
